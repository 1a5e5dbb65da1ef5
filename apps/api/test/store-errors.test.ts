import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import pino from 'pino';
import { readAtOneRevision } from '@ictvoip/store';
import { errorHandler } from '../src/errors';

/**
 * The store's typed errors through the API's error handler (a real Express app on loopback): a rate
 * deck re-imported under every read (RateDeckMovedError) is answered with its code and a retry hint,
 * not the bare 500 of an unexpected error.
 */

let server: Server;
let url: string;
const logLines: { msg: string; path?: string }[] = [];

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as { msg: string; path?: string }) });
  const app = express();
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
