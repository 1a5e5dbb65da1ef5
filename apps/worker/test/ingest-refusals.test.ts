import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, waitFor, withoutWorker, type Bridge } from './harness';

/**
 * Issue #14's one event contract: what the provisioner would refuse is refused at ingest, a 400
 * naming the field with nothing stored, never a 2xx and then a permanently failed job.
 */
let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge();
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

describe('ingest refuses what the provisioner would refuse', () => {
  it.each([
    ['service.domain', (id: number) => withService(id, { domain: 'not_a.domain!' })],
    ['service.domain', (id: number) => withService(id, { domain: 'single-label' })],
    ['service.username', (id: number) => withService(id, { username: 'bad user<script>' })],
    ['client.email', (id: number) => ({ ...buildEvent({ serviceId: id }), client: { id: 55, email: 'not-an-address' } })],
    ['secrets.servicePassword', (id: number) => buildEvent({ serviceId: id, secrets: { servicePassword: 'pass\u0001word' } })],
    ['secrets.servicePassword', (id: number) => buildEvent({ serviceId: id, secrets: { servicePassword: 'x'.repeat(73) } })],
  ])('a create with a bad %s: 400 naming it, nothing stored, nothing queued', async (path, make) => {
    const before = await inboxCount();
    const reply = await send(make(5200 + Math.floor(Math.random() * 1000)));
    expect({ status: reply.status, paths: ((reply.body.error as { details?: { path: string }[] } | undefined)?.details ?? []).map((d) => d.path) }).toEqual({
      status: 400,
      paths: [path],
    });
    expect(await inboxCount()).toBe(before);
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
});
