#!/usr/bin/env node
// The CLI is TypeScript run through tsx, like the api and worker processes.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const main = path.join(__dirname, '..', 'src', 'main.ts');
const result = spawnSync(process.execPath, ['--import', 'tsx', main, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
