import { createServer, type AddressInfo, type Server } from 'node:net';
import pino from 'pino';
import { Client } from 'pg';
import { createTestDatabase, deleteRedisPrefix, TEST_PG_ADMIN_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { startApi } from '../src';
import { testApiConfig } from './harness';

/**
 * An API that cannot listen says which setting to change (it used to crash on `server.address()` being
 * null, with a message naming neither PORT nor HOST) and leaves no connection open behind it.
 */

let db: TestDatabase;
let holder: Server;
let heldPort: number;
const prefix = uniqueQueuePrefix('listen');

beforeAll(async () => {
  db = await createTestDatabase('api_listen');
  holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  heldPort = (holder.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => holder.close(() => resolve()));
  await deleteRedisPrefix(prefix);
  await db.drop();
});

async function connectionsTo(database: string): Promise<number> {
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    return rows[0]!.n;
  } finally {
    await admin.end();
  }
}

it.each([
  { what: 'a port another process holds', host: '127.0.0.1', reason: 'EADDRINUSE' },
  // TEST-NET-1 (RFC 5737): never an address of this host.
  { what: 'an address that is not this host', host: '192.0.2.77', reason: 'EADDRNOTAVAIL' },
])('$what: start-up fails naming PORT, HOST and the reason, with nothing left open', async ({ host, reason }) => {
  const logger = pino({ level: 'silent' });
  const failure = startApi(testApiConfig(db, prefix, { HOST: host, PORT: String(heldPort) }).config, logger);
  await expect(failure).rejects.toMatchObject({ code: 'API_LISTEN_FAILED', message: expect.stringContaining(`PORT ${heldPort} on HOST ${host}: ${reason}`) });
  // The migration ran before the listen: its pool, and every other connection start-up opened, are closed again.
  expect(await connectionsTo(new URL(db.url).pathname.slice(1))).toBe(0);
});
