import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { MASKED_VALUE } from '@ictvoip/fusionpbx';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { runCli, withoutGenerated } from './run-cli';

type Row = { table: string; op: string; key: string | null; columns: Record<string, string | null> };
const TABLES = ['v_domains', 'v_domain_settings', 'v_extensions', 'v_voicemails', 'v_users', 'v_user_groups', 'v_dialplans', 'v_dialplan_details', 'v_gateways'];
let bridge: Bridge;
let bridgeDb: Pool;
let dir: string;

const cli = (...args: string[]) => runCli(bridge.env, args);

function eventFile(name: string, body: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
  return file;
}

/** Everything a preview must leave alone: FusionPBX rows, the inbox, the provisioning queue, the event socket. */
async function snapshot() {
  const fusion: Record<string, number> = {};
  for (const table of TABLES) fusion[table] = Number((await bridge.fusion.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
  const inbox = Number((await bridgeDb.query('SELECT count(*)::int AS n FROM webhook_inbox')).rows[0].n);
  const jobs = await bridge.api!.deps.queues.provisioning.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  return { fusion, inbox, jobs, eslCommands: bridge.esl.apiCommands.length };
}

beforeAll(async () => {
  bridge = await startBridge();
  bridgeDb = new Pool({ connectionString: bridge.bridgeDb.url, max: 2 });
  await bridge.startApi();
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-preview-'));
});
afterAll(async () => {
  await bridgeDb.end();
  await bridge.close();
});

it('ictvoip preview prints the rows (secrets masked) and event-socket commands of a create, as the webhook dry-run does, writing nothing; twice the same', async () => {
  const event = buildEvent({ serviceId: 7201 });
  const password = (event.secrets as { servicePassword: string }).servicePassword;
  const file = eventFile('create.json', event);
  const before = await snapshot();

  const run = await cli('preview', file, '--json');
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  const webhook = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
  expect(webhook.status).toBe(200);
  // Same shape and content as the webhook's answer; only the freshly generated row keys differ.
  expect(withoutGenerated(JSON.stringify(run.json))).toEqual(withoutGenerated(JSON.stringify(webhook.body)));
  expect(run.json).toEqual(expect.objectContaining({ result: 'dry_run', action: 'create', serviceId: 7201, domainName: 't7201.pbx.example.net' }));
  const rows = run.json.rows as Row[];
  expect(rows.filter((row) => row.table === 'v_extensions' && row.op === 'insert')).toHaveLength((event.plan as { maxExtensions: number }).maxExtensions);
  expect(rows.find((row) => row.table === 'v_users')?.columns.password).toBe(MASKED_VALUE);
  expect(run.json.eslCommands).toEqual(expect.arrayContaining([expect.stringMatching(/^memcache delete directory:100@t7201\.pbx\.example\.net$/)]));
  expect(run.stdout).not.toContain(password);

  // Human output: the rows and the commands, the password masked too.
  const human = await cli('preview', file);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^create service 7201 → t7201\.pbx\.example\.net \(active\); dry run, nothing written/);
  expect(human.stdout).toMatch(/insert v_domains [0-9a-f-]{36} .*domain_name=t7201\.pbx\.example\.net/);
  expect(human.stdout).toContain('memcache delete directory:100@t7201.pbx.example.net');
  expect(human.stdout).not.toContain(password);

  // Repeat, this time from stdin: the same answer (nothing was written by the first).
  const again = await runCli(bridge.env, ['preview', '-', '--json'], JSON.stringify(event));
  expect(again.code).toBe(0);
  expect(withoutGenerated(JSON.stringify(again.json))).toEqual(withoutGenerated(JSON.stringify(run.json)));
  expect(await snapshot()).toEqual(before);
}, 90_000);

it("refuses a file that is not JSON, a missing file and an invalid event with the webhook's field errors, exit 1, writing nothing", async () => {
  const before = await snapshot();
  const invalid = buildEvent({ serviceId: 7202, action: 'suspend', secrets: undefined });
  (invalid.service as Record<string, unknown>).id = 'seven';
  (invalid as Record<string, unknown>).occurredAt = 'yesterday';
  const [notJson, missing, bad, probe] = await Promise.all([
    cli('preview', eventFile('broken.json', '{"action": "create",'), '--json'),
    cli('preview', join(dir, 'nope.json'), '--json'),
    cli('preview', eventFile('invalid.json', invalid), '--json'),
    cli('preview', eventFile('probe.json', buildEvent({ action: 'test_connection', secrets: undefined })), '--json'),
  ]);
  expect([notJson.code, missing.code, bad.code, probe.code]).toEqual([1, 1, 1, 1]);
  expect(notJson.json).toEqual({ error: { code: 'INVALID_JSON', message: 'request body is not valid JSON' } });
  expect(missing.json).toEqual({ error: { code: 'FILE_UNREADABLE', message: expect.stringContaining('ENOENT') } });
  // The same 400 body the webhook answers for the same event.
  const webhookBad = await postWebhook(bridge.url, JSON.stringify(invalid), { query: '?dryRun=1' });
  expect(webhookBad.status).toBe(400);
  expect(bad.json).toEqual(webhookBad.body);
  expect((bad.json.error as { details: { path: string }[] }).details.map((detail) => detail.path).sort()).toEqual(['occurredAt', 'service.id']);
  expect(bad.stderr).toContain("webhook event is invalid\n  occurredAt: 'occurredAt' must be in iso format\n  service.id: 'service.id' must be a number\n");
  const webhookProbe = await postWebhook(bridge.url, JSON.stringify(buildEvent({ action: 'test_connection', secrets: undefined })), { query: '?dryRun=1' });
  expect(probe.json).toEqual(webhookProbe.body);
  expect(await snapshot()).toEqual(before);
}, 90_000);

it('reports an event that would fail for good (suspend of an unknown service) as result error, exit 1, like the webhook', async () => {
  const event = buildEvent({ serviceId: 7203, action: 'suspend', secrets: undefined });
  const before = await snapshot();
  const run = await cli('preview', eventFile('suspend.json', event), '--json');
  expect(run.code).toBe(1);
  expect(run.json).toEqual({ result: 'error', code: 'TENANT_NOT_FOUND', message: 'no FusionPBX domain is tagged with service 7203', retryable: false });
  const webhook = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
  expect(run.json).toEqual(webhook.body);
  expect(await snapshot()).toEqual(before);
}, 60_000);

it('refuses, like the webhook dry run and the worker, a create naming a domain another service of the bridge still has (a purged one too)', async () => {
  await bridgeDb.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, observed_state) VALUES (7301, 1, 'held.example.com', 'terminated', 'purged')`);
  const event = buildEvent({ serviceId: 7302, action: 'create' });
  event.service = { ...(event.service as Record<string, unknown>), domain: 'held.example.com' };
  const before = await snapshot();
  const run = await cli('preview', eventFile('held.json', event), '--json');
  expect(run.code).toBe(1);
  expect(run.json).toEqual({
    result: 'error',
    code: 'TENANT_CONFLICT',
    message: 'domain held.example.com already belongs to service 7301 (FusionPBX server default, purged); choose another domain for this service',
    retryable: false,
  });
  const webhook = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
  expect(run.json).toEqual(webhook.body);
  expect(await snapshot()).toEqual(before);
}, 60_000);
