import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Pool } from 'pg';
import { FusionServersRepository } from '@ictvoip/store';
import { buildEvent, createTestDatabase, loadFusionpbxSchema, postWebhook, seedFusionpbxBasics, startEslStandin } from '@ictvoip/testkit';
import { startBridge, TEMPLATE_DOMAIN, waitFor, type Bridge } from '../../worker/test/harness';

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'apps/cli/bin/ictvoip.js');
let bridge: Bridge;

function cli(...args: string[]): Promise<{ code: number; stderr: string; json: Record<string, unknown> }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...bridge.env, LOG_LEVEL: 'silent' }, cwd: ROOT, timeout: 60000 }, (error, stdout, stderr) => {
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
      } catch {
        json = {};
      }
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr, json });
    });
  });
}

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

it('ictvoip reconcile reports a domain disabled by hand (exit 2), --fix converges it, then reports no drift (exit 0)', async () => {
  const serviceId = 6301;
  expect((await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId })), { query: '?wait=20' })).body.result).toBe('success');
  const domain = `t${serviceId}.pbx.example.net`;
  await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [domain]);

  const report = await cli('reconcile', '--json');
  expect(report.code).toBe(2);
  expect((report.json.report as { items: unknown[] }).items).toEqual([expect.objectContaining({ kind: 'domain_disabled', serviceId, domain, fixAction: 'change_package' })]);
  expect((report.json.report as { whmcsChecked: boolean }).whmcsChecked).toBe(false);

  const fixed = await cli('reconcile', '--fix', '--json');
  expect(fixed.code).toBe(0);
  expect((fixed.json.fix as { fixes: unknown[] }).fixes).toEqual([expect.objectContaining({ serviceId, action: 'change_package', outcome: 'enqueued' })]);
  await waitFor(async () => {
    const { rows } = await bridge.fusion.query('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain]);
    return rows[0]?.enabled === 'true';
  }, 20000, 'the domain to be enabled again');

  const clean = await cli('reconcile');
  expect(clean.code).toBe(0);
  // Three CLI processes, each loading the worker's code through tsx: slow on a busy CI box.
}, 120_000);

it('ictvoip reconcile compares a tenant of a registered FusionPBX server with that server, and --fix converges it there', async () => {
  const fusion2Db = await createTestDatabase('fusion2');
  await loadFusionpbxSchema(fusion2Db.url);
  const fusion2 = new Pool({ connectionString: fusion2Db.url, max: 2 });
  await seedFusionpbxBasics(fusion2, TEMPLATE_DOMAIN);
  const esl2 = await startEslStandin({ password: 'Reconcile-Two-Secret' });
  try {
    await new FusionServersRepository(bridge.api!.deps.pool, bridge.config.webhook.secrets).add({ name: 'two', databaseUrl: fusion2Db.url, eslHost: esl2.host, eslPort: esl2.port, eslPassword: 'Reconcile-Two-Secret', whmcsServerId: 2 });
    const serviceId = 6302;
    const domain = `t${serviceId}.pbx.example.net`;
    expect((await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId, server: { id: 2 } })), { query: '?wait=20' })).body.result).toBe('success');
    await fusion2.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [domain]);

    const report = await cli('reconcile', '--json');
    expect(report.code).toBe(2);
    expect((report.json.report as { items: unknown[] }).items).toEqual([expect.objectContaining({ kind: 'domain_disabled', serviceId, domain, fixAction: 'change_package' })]);

    expect((await cli('reconcile', '--fix', '--json')).code).toBe(0);
    await waitFor(async () => (await fusion2.query('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain])).rows[0]?.enabled === 'true', 20000, 'the domain on #2 to be enabled again');
    expect((await bridge.fusion.query('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).rows).toEqual([{ n: 0 }]);
    expect((await cli('reconcile')).code).toBe(0);
  } finally {
    await esl2.stop();
    await fusion2.end();
    await fusion2Db.drop();
  }
}, 180_000);
