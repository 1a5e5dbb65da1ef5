import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWebhookEvent } from '@ictvoip/whmcs';
import { createFusionpbxTestDatabase, postWebhook, type TestDatabase } from '@ictvoip/testkit';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { ROOT, runProcess, type ProcessRun } from './run-cli';

/**
 * Every `npx ictvoip …` line of the README's fenced code blocks runs, as written (through bash, from
 * the repository root), against a bridge of its own, and exits 0. The README's webhook bodies and
 * provisioning file are used as they are, too: the `create` body makes the service the commands use.
 */

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/**
 * Commands that cannot succeed in a test, with the exit code they must give instead and why. Keep
 * it short: everything else must exit 0.
 */
const EXPECTED_FAILURES = new Map<string, { code: number; why: string }>([
  // Its database is the test's; its event socket host exists only in the example: exit 2 by design.
  ['npx ictvoip servers test pbx2', { code: 2, why: 'pbx2.example.net does not answer' }],
]);

function fencedBlocks(text: string): Array<{ lang: string; body: string }> {
  return [...text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```/gm)].map((match) => ({ lang: (match[1] ?? '').trim(), body: match[2] ?? '' }));
}

/** `npx ictvoip …` from each fenced line (continuations joined, a trailing `# comment` dropped), in README order. */
export function readmeCommands(text: string): string[] {
  const commands: string[] = [];
  for (const { body } of fencedBlocks(text)) {
    for (const line of body.replace(/\\\n\s*/g, ' ').split('\n')) {
      const at = line.indexOf('npx ictvoip');
      if (at < 0) continue;
      commands.push(
        line
          .slice(at)
          .replace(/\s+#\s.*$/, '')
          .trim(),
      );
    }
  }
  return commands;
}

function jsonBlocks(text: string): unknown[] {
  return fencedBlocks(text)
    .filter((block) => block.lang === 'json')
    .map((block) => JSON.parse(block.body) as unknown);
}

/**
 * `npx ictvoip` resolves to the repository's installed bin (node_modules/.bin/ictvoip), as npx does for a
 * package of the workspace; npm's own start-up (~0.5 s CPU a run) is skipped by running that bin directly.
 * One test (`--version`) runs the real npx, which proves the resolution.
 */
const LOCAL_NPX = `npx() { if [ "$1" = ictvoip ]; then shift; "${join(ROOT, 'node_modules/.bin/ictvoip')}" "$@"; else command npx "$@"; fi; }`;

function bash(command: string, env: Record<string, string>, options: { realNpx?: boolean } = {}): Promise<ProcessRun> {
  const script = options.realNpx ? command : `${LOCAL_NPX}\n${command}`;
  return runProcess('bash', ['-c', script], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'silent' }, timeoutMs: 90_000 });
}

const events = jsonBlocks(README).filter((value): value is Record<string, unknown> => typeof value === 'object' && value !== null && 'schemaVersion' in value);
const provisioning = jsonBlocks(README).find((value): value is Record<string, unknown> => typeof value === 'object' && value !== null && 'gatewayTemplates' in value);

let bridge: Bridge;
let pbx2: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-readme-'));
  const provisioningFile = join(dir, 'provisioning.json');
  writeFileSync(provisioningFile, JSON.stringify(provisioning));
  bridge = await startBridge({ PROVISIONING_FILE: provisioningFile });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  // The second FusionPBX of "Several FusionPBX servers": a database of its own; its event socket is the stand-in's.
  pbx2 = await createFusionpbxTestDatabase('readme_pbx2');
  env = { ...bridge.env, PBX2_DB_URL: pbx2.url, PBX2_ESL_PASSWORD: 'ClueCon' };
}, 120_000);
afterAll(async () => {
  await bridge?.close();
  await pbx2?.drop();
});

describe('README', () => {
  it('shows a body for every webhook action, each accepted by the event schema', () => {
    expect(events.map((event) => event.action)).toEqual(['create', 'suspend', 'unsuspend', 'terminate', 'change_package', 'change_password', 'test_connection']);
    for (const event of events) expect(() => parseWebhookEvent(event)).not.toThrow();
    expect(provisioning).toBeDefined();
  });

  it('its create body provisions the service the commands use, with room for one more extension', async () => {
    const create = events.find((event) => event.action === 'create');
    const reply = await postWebhook(bridge.url, JSON.stringify(create), { query: '?wait=20' });
    expect({ status: reply.status, result: reply.body.result }).toEqual({ status: 200, result: 'success' });
    const { rows } = await bridge.fusion.query<{ extension: string }>(
      "SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = 't42.pbx.example.net' ORDER BY 1",
    );
    expect(rows.map((row) => row.extension)).toEqual(['100', '101', '102']);
    // The other bodies are accepted for that service too (previewed: nothing applied).
    for (const event of events.filter((e) => e.action !== 'create' && e.action !== 'test_connection')) {
      const preview = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
      expect({ action: event.action, status: preview.status, result: preview.body.result }).toEqual({ action: event.action, status: 200, result: 'dry_run' });
    }
  }, 60_000);

  it('its /v1 write examples answer as it says: add, change and delete an extension and a gateway', async () => {
    const keyRun = await bash('npx ictvoip keys create --name writes --service 42 --access read-write --json', env);
    const KEY = (JSON.parse(keyRun.stdout.trim().split('\n').pop() as string) as { token: string }).token;
    const block = fencedBlocks(README)
      .map((b) => b.body)
      .find((body) => body.includes('V1=http://127.0.0.1:3000/v1/tenants/42'));
    expect(block).toBeDefined();
    const lines = (block as string)
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#') && !line.startsWith('GW='));
    const statuses: number[] = [];
    const bodies: string[] = [];
    let GW = '';
    for (const line of lines.map((l) => l.replace('http://127.0.0.1:3000', bridge.url))) {
      if (line.startsWith('V1=')) {
        env = { ...env, V1: line.slice(3).replace(/^"|"$/g, '') };
        continue;
      }
      // The line as written, plus the status on a last line of its own.
      const run = await bash(`${line} -w '\\n%{http_code}'`, { ...env, KEY, GW });
      const out = run.stdout.trim().split('\n');
      statuses.push(Number(out.pop()));
      bodies.push(out.join('\n'));
      if (line.includes('-X POST "$V1/gateways"')) GW = (JSON.parse(out.join('\n')) as { gateway: { gatewayUuid: string } }).gateway.gatewayUuid;
    }
    expect({ statuses, bodies }).toEqual({ statuses: [201, 200, 204, 201, 200, 204], bodies });
  }, 120_000);

  const commands = readmeCommands(README);

  it('shows CLI commands, and expects a failure only of commands it shows', () => {
    expect(commands.length).toBeGreaterThanOrEqual(10);
    for (const failing of EXPECTED_FAILURES.keys()) expect(commands).toContain(failing);
  });

  // One test per command, in README order (later lines use what earlier ones made).
  for (const command of commands) {
    const failure = EXPECTED_FAILURES.get(command);
    it(`${command}${failure ? ` (exits ${failure.code}: ${failure.why})` : ''}`, async () => {
      const run = await bash(command, env);
      if (failure) {
        expect(run.code).toBe(failure.code);
        return;
      }
      expect({ command, code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ command, code: 0, stderr: '' });
    }, 120_000);
  }

  it('npx ictvoip --version (the real npx: it finds the workspace bin) prints the version of package.json', async () => {
    const run = await bash('npx ictvoip --version', env, { realNpx: true });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  }, 60_000);
});
