import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventJobId, PROVISIONING_JOBS, queueOf } from '@ictvoip/queue';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, waitFor, withoutWorker, type Bridge } from './harness';

/**
 * Issue #14's one event contract: what the provisioner would refuse is refused at ingest, a 400
 * naming the field with nothing stored, never a 2xx and then a permanently failed job.
 */
let bridge: Bridge;

beforeAll(async () => {
  // The operator's default first extension: a plan without firstExtension starts there (the provisioner's option, not ingest's).
  const file = join(mkdtempSync(join(tmpdir(), 'ictvoip-ingest-')), 'provisioning.json');
  writeFileSync(file, JSON.stringify({ defaultFirstExtension: 200 }));
  bridge = await startBridge({ PROVISIONING_FILE: file });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;
const inboxCount = async () => (await bridgeRows('SELECT count(*)::int AS n FROM webhook_inbox'))[0].n as number;

async function send(body: Record<string, unknown>) {
  return postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
}

function withService(serviceId: number, service: Record<string, unknown>) {
  const event = buildEvent({ serviceId });
  return { ...event, service: { ...(event.service as Record<string, unknown>), ...service } };
}

/** An event of `action` as WHMCS sends it, without `secrets` (WHMCS sends the password on create and change_password only). */
function withoutSecrets(serviceId: number, action: string, extra: Record<string, unknown> = {}) {
  const event: Record<string, unknown> = buildEvent({ serviceId, action, ...extra });
  delete event.secrets;
  return event;
}

/** Whether the event's provisioning job was ever added (a refused webhook adds none). */
async function jobOf(event: Record<string, unknown>) {
  const action = event.action as keyof typeof PROVISIONING_JOBS;
  const jobId = eventJobId((event.service as { id: number }).id, action, event.eventId as string);
  return bridge.api!.deps.queues[queueOf(PROVISIONING_JOBS[action])].getJob(jobId);
}

const refusedPaths = (reply: { body: Record<string, unknown> }) => ((reply.body.error as { details?: { path: string }[] } | undefined)?.details ?? []).map((d) => d.path);

describe('ingest refuses what the provisioner would refuse', () => {
  it.each([
    ['service.domain', (id: number) => withService(id, { domain: 'not_a.domain!' })],
    ['service.domain', (id: number) => withService(id, { domain: 'single-label' })],
    ['service.username', (id: number) => withService(id, { username: 'bad user<script>' })],
    ['client.email', (id: number) => ({ ...buildEvent({ serviceId: id }), client: { id: 55, email: 'not-an-address' } })],
    ['secrets.servicePassword', (id: number) => buildEvent({ serviceId: id, secrets: { servicePassword: 'pass\u0001word' } })],
    ['secrets.servicePassword', (id: number) => buildEvent({ serviceId: id, secrets: { servicePassword: 'x'.repeat(73) } })],
    // The provisioner sets the tenant admin's portal password on create: without one the job could never succeed.
    ['secrets.servicePassword', (id: number) => withoutSecrets(id, 'create')],
    ['secrets.servicePassword', (id: number) => buildEvent({ serviceId: id, secrets: {} })],
  ])('a create with a bad %s: 400 naming it, nothing stored, nothing queued', async (path, make) => {
    const before = await inboxCount();
    const event = make(5200 + Math.floor(Math.random() * 1000));
    const reply = await send(event);
    expect({ status: reply.status, code: (reply.body.error as { code?: string } | undefined)?.code, paths: refusedPaths(reply) }).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
      paths: [path],
    });
    expect(await inboxCount()).toBe(before);
    expect(await jobOf(event)).toBeUndefined();
  });

  it('without secrets.servicePassword a change_password is refused too, naming it; suspend, unsuspend, change_package and terminate, which carry none, run', async () => {
    const serviceId = 5304;
    expect((await send(buildEvent({ serviceId }))).body.result).toBe('success');
    const before = await inboxCount();
    const change = withoutSecrets(serviceId, 'change_password');
    const refused = await send(change);
    expect({ status: refused.status, paths: refusedPaths(refused) }).toEqual({ status: 400, paths: ['secrets.servicePassword'] });
    expect(await inboxCount()).toBe(before);
    expect(await jobOf(change)).toBeUndefined();
    for (const action of ['suspend', 'unsuspend', 'change_package', 'terminate']) {
      const reply = await send(withoutSecrets(serviceId, action));
      expect({ action, result: reply.body.result }).toEqual({ action, result: 'success' });
    }
    expect(await inboxCount()).toBe(before + 4);
  });

  it('a change_password with a bad e-mail is refused too; a suspend, which writes no admin, is not', async () => {
    const serviceId = 5301;
    expect((await send(buildEvent({ serviceId }))).body.result).toBe('success');
    const client = { id: 55, email: 'still not an address' };
    const change = await send({ ...buildEvent({ serviceId, action: 'change_password' }), client });
    expect(change.status).toBe(400);
    expect((change.body.error as { details: { path: string }[] }).details.map((d) => d.path)).toEqual(['client.email']);
    const suspend: Record<string, unknown> = { ...buildEvent({ serviceId, action: 'suspend' }), client };
    delete suspend.secrets;
    expect((await send(suspend)).body.result).toBe('success');
  });

  it('the values the provisioner takes still pass: a requested domain, a username, an e-mail, a 72-byte password', async () => {
    const serviceId = 5302;
    const event = {
      ...withService(serviceId, { domain: 'Tenant-5302.Example.net', username: 'ops.admin+1@corp' }),
      secrets: { servicePassword: 'p'.repeat(72) },
    };
    const reply = await send(event);
    expect(reply.body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: 'tenant-5302.example.net', adminUsername: 'ops.admin+1@corp' } });
  });

  it('an event stored by an earlier release with a value now refused fails alone (EVENT_UNREADABLE naming the field); the next event of the service runs', async () => {
    const serviceId = 5303;
    const stored = buildEvent({ serviceId });
    await withoutWorker(bridge, async () => {
      expect((await postWebhook(bridge.url, JSON.stringify(stored))).status).toBe(202);
      // What an earlier release accepted and stored: the requested domain as sent.
      await bridgeRows(`UPDATE webhook_inbox SET payload = jsonb_set(payload, '{service,domain}', '"bad_domain!"') WHERE event_id = $1`, [stored.eventId]);
    });
    const failed = await waitFor(
      async () => (await bridgeRows(`SELECT status, retryable, last_error FROM webhook_inbox WHERE event_id = $1 AND status = 'failed'`, [stored.eventId]))[0],
      20000,
      'the stored event to fail',
    );
    expect(failed).toMatchObject({ retryable: false, last_error: expect.stringMatching(/is not a valid command: .*service\.domain/) });
    expect((await send(buildEvent({ serviceId }))).body.result).toBe('success');
  });

  it('a create an earlier release stored without its password fails alone (EVENT_UNREADABLE naming secrets.servicePassword); the create WHMCS sends again runs', async () => {
    const serviceId = 5305;
    const stored = buildEvent({ serviceId });
    await withoutWorker(bridge, async () => {
      expect((await postWebhook(bridge.url, JSON.stringify(stored))).status).toBe(202);
      // What an earlier release accepted: the create without a password, so nothing sealed with the row.
      await bridgeRows('UPDATE webhook_inbox SET sealed_secrets = NULL WHERE event_id = $1', [stored.eventId]);
    });
    const failed = await waitFor(
      async () => (await bridgeRows(`SELECT status, retryable, last_error FROM webhook_inbox WHERE event_id = $1 AND status = 'failed'`, [stored.eventId]))[0],
      20000,
      'the stored create to fail',
    );
    expect(failed).toMatchObject({ retryable: false, last_error: expect.stringMatching(/is not a valid command: .*secrets\.servicePassword/) });
    const audit = await bridgeRows(`SELECT detail->>'code' AS code FROM audit_log WHERE event_id = $1 AND action = 'create.failed'`, [stored.eventId]);
    expect(audit).toEqual([{ code: 'EVENT_UNREADABLE' }]);
    // Nothing of the tenant was written; WHMCS's Create sends the password again and that event runs.
    expect((await bridge.fusion.query("SELECT 1 FROM v_domains WHERE domain_name = 't5305.pbx.example.net'")).rows).toEqual([]);
    expect((await send(buildEvent({ serviceId }))).body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: 't5305.pbx.example.net' } });
  });

  it("a plan without firstExtension starts at PROVISIONING_FILE's defaultFirstExtension; a plan's own firstExtension wins", async () => {
    const extensionsOf = async (domain: string) =>
      (await bridge.fusion.query('SELECT e.extension FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY e.extension', [domain])).rows.map(
        (row) => row.extension as string,
      );
    const unset = buildEvent({ serviceId: 5401, plan: { maxExtensions: 3, rateDeck: 'standard' } });
    expect((await send(unset)).body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: 't5401.pbx.example.net' } });
    expect(await extensionsOf('t5401.pbx.example.net')).toEqual(['200', '201', '202']);
    const own = buildEvent({ serviceId: 5402, plan: { maxExtensions: 2, firstExtension: 100, rateDeck: 'standard' } });
    expect((await send(own)).body.result).toBe('success');
    expect(await extensionsOf('t5402.pbx.example.net')).toEqual(['100', '101']);
  });
});
