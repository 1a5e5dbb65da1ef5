import { Pool } from 'pg';
import { MASKED_VALUE } from '@ictvoip/fusionpbx';
import { directoryKey } from '@ictvoip/freeswitch';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, waitForIdleQueue, type Bridge } from '../../worker/test/harness';

type Row = { table: string; op: string; key: string | null; columns: Record<string, string | null> };
type Step = { kind: string; key?: string };

const TABLES = ['v_domains', 'v_domain_settings', 'v_extensions', 'v_voicemails', 'v_users', 'v_user_groups', 'v_dialplans', 'v_dialplan_details', 'v_gateways'];
let bridge: Bridge;
let bridgeDb: Pool;

async function fusionCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) counts[table] = Number((await bridge.fusion.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
  return counts;
}

/** Everything a dry-run must leave alone: FusionPBX rows, the inbox, the provisioning queue, the event socket. */
async function snapshot() {
  const inbox = Number((await bridgeDb.query('SELECT count(*)::int AS n FROM webhook_inbox')).rows[0].n);
  const jobs = await bridge.api!.deps.queues.provisioning.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  return { fusion: await fusionCounts(), inbox, jobs, eslCommands: bridge.esl.apiCommands.length };
}

/** The snapshot a test compares against, taken once the previous test's jobs have finished. */
async function settledSnapshot(): Promise<Awaited<ReturnType<typeof snapshot>>> {
  await waitForIdleQueue(bridge.api!.deps.queues.provisioning);
  return snapshot();
}

beforeAll(async () => {
  bridge = await startBridge();
  bridgeDb = new Pool({ connectionString: bridge.bridgeDb.url, max: 2 });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridgeDb.end();
  await bridge.close();
});

it('dry-run create lists the domain, extension, voicemail and user rows and the cache deletes, writes nothing, and matches the real run', async () => {
  const event = buildEvent({ serviceId: 7101 });
  const password = (event.secrets as { servicePassword: string }).servicePassword;
  const maxExtensions = (event.plan as { maxExtensions: number }).maxExtensions;
  const before = await settledSnapshot();

  const dry = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
  expect(dry.status).toBe(200);
  expect(dry.body.result).toBe('dry_run');
  const rows = dry.body.rows as Row[];
  const domain = dry.body.domainName as string;
  const inserted = (table: string) => rows.filter((row) => row.table === table && row.op === 'insert');
  expect(inserted('v_domains')).toEqual([expect.objectContaining({ key: expect.stringMatching(/^[0-9a-f-]{36}$/), columns: expect.objectContaining({ domain_name: domain }) })]);
  const extensions = inserted('v_extensions').map((row) => row.columns.extension as string);
  expect(extensions).toHaveLength(maxExtensions);
  expect(
    inserted('v_voicemails')
      .map((row) => row.columns.voicemail_id)
      .sort(),
  ).toEqual([...extensions].sort());
  const users = inserted('v_users');
  expect(users).toEqual([expect.objectContaining({ columns: expect.objectContaining({ username: (event.service as { username: string }).username, password: MASKED_VALUE }) })]);
  const cacheDeletes = (dry.body.freeswitch as Step[]).filter((step) => step.kind === 'cache_delete').map((step) => step.key);
  expect(cacheDeletes).toEqual(expect.arrayContaining(extensions.map((extension) => directoryKey(extension, domain))));
  // No secret in the reply: not the service password, and every password-like column masked.
  const text = JSON.stringify(dry.body);
  expect(text).not.toContain(password);
  for (const row of rows) for (const [column, value] of Object.entries(row.columns)) if (/password|salt|api_key/.test(column) && value !== null) expect(value).toBe(MASKED_VALUE);
  expect(await snapshot()).toEqual(before);

  // Repeat: the same preview again (nothing was written by the first one).
  const again = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
  expect((again.body.rows as Row[]).filter((row) => row.table === 'v_extensions').map((row) => row.columns.extension)).toEqual(extensions);
  expect(await snapshot()).toEqual(before);

  // The real run creates what the preview showed.
  const real = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' });
  expect(real.body.result).toBe('success');
  const created = await bridge.fusion.query('SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [domain]);
  expect(created.rows.map((row) => row.extension)).toEqual([...extensions].sort());
}, 60_000);

it('dry-run with a bad domain answers the same error as a real run and writes nothing', async () => {
  const event = buildEvent({ serviceId: 7102 });
  (event.service as Record<string, unknown>).domain = 'bad..domain';
  const before = await settledSnapshot();
  // Refused at ingest (issue #14: what the provisioner would refuse is a 400 naming the field), preview or not.
  const dry = await postWebhook(bridge.url, JSON.stringify(event), { query: '?dryRun=1' });
  expect(dry.status).toBe(400);
  expect(dry.body).toEqual({ error: expect.objectContaining({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: 'service.domain' })] }) });
  expect(await snapshot()).toEqual(before);

  const real = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' });
  expect({ status: real.status, body: real.body }).toEqual({ status: 400, body: dry.body });
  expect(await snapshot()).toEqual(before);
}, 60_000);

it('dry-run refuses an unsigned request and an action it cannot preview, recording nothing', async () => {
  const before = await settledSnapshot();
  const unsigned = await postWebhook(bridge.url, JSON.stringify(buildEvent()), { query: '?dryRun=1', signature: 'v1=00' });
  expect(unsigned.status).toBe(401);
  const status = await postWebhook(bridge.url, JSON.stringify(buildEvent({ action: 'test_connection', secrets: undefined })), { query: '?dryRun=1' });
  expect(status.status).toBe(400);
  expect(status.body).toEqual({ error: expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringContaining('test_connection') }) });
  expect(await snapshot()).toEqual(before);
}, 30_000);
