#!/usr/bin/env node
// The CLI runs compiled (dist/main.js, from `npm run build`, built here when it is missing);
// ICTVOIP_FROM_SOURCE=1 (set by the jest configs) runs src/main.ts through tsx instead.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { existsSync } = require('node:fs');

const fromSource = process.env.ICTVOIP_FROM_SOURCE === '1';
const main = fromSource ? path.join(__dirname, '..', 'src', 'main.ts') : path.join(__dirname, '..', 'dist', 'main.js');
const build = path.join(__dirname, '..', '..', '..', 'scripts', 'build.js');
if (!fromSource && !existsSync(main) && (!existsSync(build) || spawnSync(process.execPath, [build], { stdio: ['ignore', 2, 2] }).status !== 0)) {
  process.stderr.write('ictvoip: the CLI is not built (apps/cli/dist/main.js is missing): run "npm run build"\n');
  process.exit(1);
}
const launch = fromSource ? ['--import', 'tsx', main] : [main];
const result = spawnSync(process.execPath, [...launch, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
