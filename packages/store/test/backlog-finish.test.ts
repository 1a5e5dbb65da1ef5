import { randomUUID } from 'node:crypto';
import { Client, type Pool } from 'pg';
import { createBridgeTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { createPool, FINISH_CHANNELS, InboxRepository } from '@ictvoip/store';

/** The one statement that clears an applied FreeSWITCH backlog and finishes its events (issue #20). */
let db: TestDatabase;
let pool: Pool;
let inbox: InboxRepository;

beforeAll(async () => {
  db = await createBridgeTestDatabase('backlog_finish');
  pool = createPool(db.url);
  inbox = new InboxRepository(pool);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function serviceWithBacklog(serviceId: number, version: number, eventIds: string[]): Promise<void> {
  await pool.query(`INSERT INTO services (service_id, client_id, desired_state, pending_apply) VALUES ($1, 1, 'active', $2::jsonb)`, [
    serviceId,
    JSON.stringify({ version, origin: version, steps: [], events: eventIds.map((eventId) => ({ eventId })), since: new Date().toISOString(), lastError: null, attempts: 0 }),
  ]);
  for (const eventId of eventIds) {
    await inbox.record({ eventId, bodyHash: 'h', action: 'create', serviceId, clientId: 1, payload: {}, sealedSecrets: 'sealed', jobId: `j-${eventId}` });
    await inbox.markPendingApply(eventId, 'FreeSWITCH pending');
  }
}

const finish = (eventId: string, message: string) => ({ eventId, result: { message, serviceProperties: {} }, audit: { actor: 'worker', action: 'create', detail: { message } } });
const auditOf = async (serviceId: number) =>
  (await pool.query("SELECT event_id, actor, action, detail->>'message' AS message FROM audit_log WHERE service_id = $1 ORDER BY id", [serviceId])).rows;

it('clears the version, finishes every waiting event with its result and one audit entry each, in order, and notifies each', async () => {
  const [a, b] = [randomUUID(), randomUUID()];
  await serviceWithBacklog(6001, 4, [a, b]);
  const listener = new Client({ connectionString: db.url });
  await listener.connect();
  const heard: string[] = [];
  listener.on('notification', (message) => heard.push(message.payload ?? ''));
  await listener.query(`LISTEN ${FINISH_CHANNELS.inbox}`);
  try {
    expect(await inbox.succeedClearingBacklog(6001, 4, [finish(a, 'first'), finish(b, 'second')])).toBe(true);
    const rows = (await pool.query('SELECT event_id, status, result, sealed_secrets, finished_at IS NOT NULL AS finished FROM webhook_inbox WHERE service_id = 6001 ORDER BY seq'))
      .rows;
    expect(rows).toEqual([
      { event_id: a, status: 'succeeded', result: { message: 'first', serviceProperties: {} }, sealed_secrets: null, finished: true },
      { event_id: b, status: 'succeeded', result: { message: 'second', serviceProperties: {} }, sealed_secrets: null, finished: true },
    ]);
    expect((await pool.query('SELECT pending_apply FROM services WHERE service_id = 6001')).rows).toEqual([{ pending_apply: null }]);
    expect(await auditOf(6001)).toEqual([
      { event_id: a, actor: 'worker', action: 'create', message: 'first' },
      { event_id: b, actor: 'worker', action: 'create', message: 'second' },
    ]);
    await listener.query('SELECT 1');
    expect(heard.sort()).toEqual([a, b].sort());
  } finally {
    await listener.end();
  }
});

it('finishes nothing when a later event added to the backlog meanwhile (another version)', async () => {
  const a = randomUUID();
  await serviceWithBacklog(6002, 7, [a]);
  expect(await inbox.succeedClearingBacklog(6002, 6, [finish(a, 'stale')])).toBe(false);
  expect((await inbox.get(a))?.status).toBe('pending_apply');
  expect((await pool.query("SELECT pending_apply->>'version' AS version FROM services WHERE service_id = 6002")).rows).toEqual([{ version: '7' }]);
  expect(await auditOf(6002)).toEqual([]);
});

it('leaves an event finished already alone: no second audit entry, its result kept (a replay)', async () => {
  const [a, b] = [randomUUID(), randomUUID()];
  await serviceWithBacklog(6003, 2, [a, b]);
  await inbox.markSucceeded(a, { message: 'earlier' });
  expect(await inbox.succeedClearingBacklog(6003, 2, [finish(a, 'again'), finish(b, 'now')])).toBe(true);
  expect((await inbox.get(a))?.result).toEqual({ message: 'earlier' });
  expect(await auditOf(6003)).toEqual([{ event_id: b, actor: 'worker', action: 'create', message: 'now' }]);
});

it('writes nothing when any part fails: the audit insert refused leaves the backlog and the events as they were', async () => {
  const a = randomUUID();
  await serviceWithBacklog(6004, 3, [a]);
  const refused = { ...finish(a, 'x'), audit: { actor: null as unknown as string, action: 'create' } };
  await expect(inbox.succeedClearingBacklog(6004, 3, [refused])).rejects.toThrow(/actor/);
  expect((await inbox.get(a))?.status).toBe('pending_apply');
  expect((await pool.query("SELECT pending_apply->>'version' AS version FROM services WHERE service_id = 6004")).rows).toEqual([{ version: '3' }]);
  expect(await auditOf(6004)).toEqual([]);
});
