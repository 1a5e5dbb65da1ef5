import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { buildEvent, createTestDatabase, postWebhook, TEST_PG_ADMIN_URL, type TestDatabase } from '@ictvoip/testkit';
import { startTestApi, type TestApi } from './harness';

/**
 * A PostgreSQL server that refuses new connections with 53300 ("too many connections") is full,
 * not broken: the API must answer 503 + Retry-After, write nothing, and recover by itself. The
 * refusal is real: the bridge connects as its own role, and the role's CONNECTION LIMIT is set to 0
 * with its open sessions ended, which is how PostgreSQL answers when max_connections is reached.
 */
const ROLE = `ictvoip_full_${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let t: TestApi;

async function admin<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function asRole(url: string): string {
  const parsed = new URL(url);
  parsed.username = ROLE;
  return parsed.toString();
}

async function refuseRole(): Promise<void> {
  await admin(TEST_PG_ADMIN_URL, async (client) => {
    await client.query(`ALTER ROLE ${ROLE} CONNECTION LIMIT 0`);
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [ROLE]);
  });
}

async function inboxCount(eventId: string): Promise<number> {
  return admin(db.url, async (client) => Number((await client.query('SELECT count(*) AS n FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0].n));
}

beforeAll(async () => {
  await admin(TEST_PG_ADMIN_URL, (client) => client.query(`CREATE ROLE ${ROLE} LOGIN`));
  db = await createTestDatabase('full');
  await admin(TEST_PG_ADMIN_URL, (client) => client.query(`ALTER DATABASE ${db.name} OWNER TO ${ROLE}`));
  await admin(db.url, (client) => client.query(`ALTER SCHEMA public OWNER TO ${ROLE}`));
  t = await startTestApi({ DATABASE_URL: asRole(db.url) });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await db?.drop();
  await admin(TEST_PG_ADMIN_URL, (client) => client.query(`DROP ROLE IF EXISTS ${ROLE}`));
});

it('PostgreSQL refusing connections (53300): the webhook and /readyz answer 503 with Retry-After, nothing is stored, and the same delivery is accepted once connections are allowed again', async () => {
  const event = buildEvent();
  const body = JSON.stringify(event);

  await refuseRole();
  const refusal = await admin(TEST_PG_ADMIN_URL, async () => {
    const probe = new Client({ connectionString: asRole(db.url) });
    try {
      await probe.connect();
      return 'connected';
    } catch (error) {
      return (error as { code?: string }).code;
    } finally {
      await probe.end().catch(() => undefined);
    }
  });
  expect(refusal).toBe('53300');

  const refused = await postWebhook(t.url, body);
  expect({ status: refused.status, code: (refused.body.error as { code?: string } | undefined)?.code, retryAfter: refused.headers.get('retry-after') }).toEqual({
    status: 503,
    code: 'DEPENDENCY_UNAVAILABLE',
    retryAfter: expect.stringMatching(/^\d+$/),
  });
  const ready = await fetch(`${t.url}/readyz`);
  await ready.body?.cancel();
  expect(ready.status).toBe(503);
  expect(await inboxCount(String(event.eventId))).toBe(0);
  expect(t.logLines.filter((line) => line.includes('unexpected error'))).toEqual([]);

  await admin(TEST_PG_ADMIN_URL, (client) => client.query(`ALTER ROLE ${ROLE} CONNECTION LIMIT -1`));
  const accepted = await postWebhook(t.url, body);
  expect(accepted.status).toBe(202);
  expect(await inboxCount(String(event.eventId))).toBe(1);
}, 60_000);
