import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFlagsOf, WORKER_OLD_SPACE_MIB } from '../src/commands/start';
import { ROOT } from './run-cli';

/**
 * The worker's V8 heap cap (README "Memory") is passed by three starts: `ictvoip start`, `npm run
 * start:worker` and docker-compose. They must agree, or the bench (which reads start:worker) measures
 * a worker the other starts do not run.
 */
const FLAG = `--max-old-space-size=${WORKER_OLD_SPACE_MIB}`;

describe('worker heap cap', () => {
  it('ictvoip start gives the worker the cap and the api none', () => {
    expect(nodeFlagsOf('worker', '')).toEqual([FLAG]);
    expect(nodeFlagsOf('api', '')).toEqual([]);
  });

  it("leaves the operator's own NODE_OPTIONS cap alone", () => {
    expect(nodeFlagsOf('worker', '--max-old-space-size=256')).toEqual([]);
    expect(nodeFlagsOf('worker', '--enable-source-maps')).toEqual([FLAG]);
  });

  it('npm run start:worker and docker-compose pass the same flag', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    // exec: npm's signals reach the worker itself, not a shell that keeps them (see start.test.ts).
    expect(scripts['start:worker']).toBe(`exec node ${FLAG} apps/worker/dist/main.js`);
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(`command: ['node', '${FLAG}', 'apps/worker/dist/main.js']`);
  });
});
