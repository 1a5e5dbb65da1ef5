import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { Pool } from 'pg';
import pino from 'pino';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { readAtOneRevision, withBillingLock, withCreditLock, withFreeswitchLock, withRegistrationsPollLock, withServerLock, withServiceLock } from '@ictvoip/store';
import { errorHandler } from '../src/errors';

/**
 * The store's typed errors through the API's error handler (a real Express app on loopback): a rate
 * deck re-imported under every read (RateDeckMovedError) is answered with its code and a retry hint,
 * not the bare 500 of an unexpected error. So is each advisory lock of the store that another
 * connection holds (a real lock in PostgreSQL): its own code, what was busy and when to retry.
 */

interface LogLine {
  level: number;
  msg: string;
  path?: string;
  code?: string;
  status?: number;
  requestId?: string;
}

let server: Server;
let url: string;
let db: TestDatabase;
let pool: Pool;
const logLines: LogLine[] = [];

/** The store's locks, each as the route /locked/:lock takes it for a moment (250 ms). */
const LOCK_WAIT_MS = 250;
type Locker = (work: () => Promise<unknown>, waitMs?: number) => Promise<unknown>;
const LOCKS: Record<string, Locker> = {
  service: (work, waitMs) => withServiceLock(pool, 7101, work, waitMs),
  billing: (work, waitMs) => withBillingLock(pool, 7101, work, waitMs),
  freeswitch: (work, waitMs) => withFreeswitchLock(pool, 7101, work, waitMs),
  credit: (work, waitMs) => withCreditLock(pool, 42, work, waitMs),
  server: (work, waitMs) => withServerLock(pool, 'pbx-a.example.net', work, waitMs),
  poll: (work, waitMs) => withRegistrationsPollLock(pool, 'pbx-a.example.net', work, waitMs),
};

beforeAll(async () => {
  db = await createTestDatabase('api-store-errors');
  pool = new Pool({ connectionString: db.url, max: 4 });
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as LogLine) });
  const app = express();
  // The API's request id (app.ts): the error handler logs it.
  app.use((req, res, next) => {
    res.locals.requestId = req.get('x-request-id');
    next();
  });
  app.get('/locked/:lock', async (req, res, next) => {
    try {
      await LOCKS[req.params.lock]!(async () => undefined, LOCK_WAIT_MS);
      res.json({ ran: true });
    } catch (error) {
      next(error);
    }
  });
  app.get('/deck', async (_req, res, next) => {
    // The rates are never of the revision the deck row was read at: an import commits between every pair of reads.
    let revision = 0;
    try {
      const read = await readAtOneRevision(
        'std',
        async () => ({ revision: ++revision }),
        async (): Promise<string | undefined> => undefined,
      );
      res.json(read);
    } catch (error) {
      next(error);
    }
  });
  app.use(errorHandler(logger));
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await pool.end();
  await db.drop();
});

it('a rate deck re-imported under every read is 503 RATE_DECK_MOVED with Retry-After, and a warning, not a bare 500', async () => {
  const response = await fetch(`${url}/deck`);
  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe('5');
  expect(await response.json()).toEqual({
    error: { code: 'RATE_DECK_MOVED', message: 'rate deck std was re-imported while it was read, again and again: read it again later' },
  });
  expect(logLines.find((line) => line.msg.includes('RATE_DECK_MOVED') || line.msg.includes('re-imported'))).toMatchObject({ path: '/deck' });
  expect(logLines.some((line) => line.msg === 'unexpected error')).toBe(false);
});

describe('a store lock held by another connection', () => {
  const cases: [lock: string, code: string, retryAfter: string, message: string][] = [
    ['service', 'TENANT_BUSY', '2', 'tenant 7101 is busy: a provisioning event or another write of it is being applied (its lock was not free within 250 ms); retry after 2 s'],
    [
      'billing',
      'BILLING_BUSY',
      '10',
      'billing of service 7101 is busy: a CDR sync, re-rating or billing push of it is running (its lock was not free within 250 ms); retry after 10 s',
    ],
    ['freeswitch', 'FREESWITCH_BUSY', '5', 'service 7101 is busy: a worker is applying its FreeSWITCH side (its lock was not free within 250 ms); retry after 5 s'],
    ['credit', 'CREDIT_CHECK_BUSY', '5', 'the credit of WHMCS client 42 is busy: a credit check of it is running (its lock was not free within 250 ms); retry after 5 s'],
    [
      'server',
      'FUSIONPBX_SERVER_BUSY',
      '5',
      'FusionPBX server pbx-a.example.net is busy: another global gateway write to it is being applied (its lock was not free within 250 ms); retry after 5 s',
    ],
    [
      'poll',
      'FUSIONPBX_SERVER_BUSY',
      '5',
      'FusionPBX server pbx-a.example.net is busy: a registration poll of it is running (its lock was not free within 250 ms); retry after 5 s',
    ],
  ];

  it.each(cases)('%s: 503 %s with Retry-After %s, the message naming what was busy, logged once with the code and request id', async (lock, code, retryAfter, message) => {
    const requestId = `lock-${lock}-${Date.now()}`;
    // The lock held for real, from another pooled connection, while the request waits for it.
    const response = await LOCKS[lock]!(() => fetch(`${url}/locked/${lock}`, { headers: { 'x-request-id': requestId } }));
    const reply = response as Response;
    expect(reply.status).toBe(503);
    expect(reply.headers.get('retry-after')).toBe(retryAfter);
    expect(await reply.json()).toEqual({ error: { code, message } });
    const logged = logLines.filter((line) => line.requestId === requestId);
    expect(logged).toEqual([expect.objectContaining({ level: 40, status: 503, code, path: `/locked/${lock}`, msg: `answered 503 ${code}: ${message}` })]);
    expect(logLines.some((line) => line.msg === 'unexpected error')).toBe(false);
    // Free again: the same request runs.
    const free = await fetch(`${url}/locked/${lock}`);
    await free.body?.cancel();
    expect(free.status).toBe(200);
  });
});
