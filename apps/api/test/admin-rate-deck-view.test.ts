// The addon's deck view (GET /admin/pages/rate-decks/<name>) is what an operator compares with
// `rates show`: it must show the price the customer is billed (the deck's markup applied) with the
// base rate beside it, and the deck's markup and its rates of one revision, also while an import commits.
import pino from 'pino';
import { Pool } from 'pg';
/* eslint-disable @typescript-eslint/no-explicit-any */
import { importRateDeck, type RateDeckStoreOptions } from '@ictvoip/store';
import { createBridgeTestDatabase, deleteRedisPrefix, HoldingRelay, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { startApi, type RunningApi } from '../src';
import { testApiConfig } from './harness';

const ADMIN_TOKEN = 'admin-rate-deck-view-token-5b1d';
const TARIFF = (uk: string) => `Description,Prefix,RateValue,Increment\r\nUnited Kingdom,44,${uk},6\r\n`;
const options = (percent: string): RateDeckStoreOptions => ({
  currency: 'CAD',
  numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  markup: { percent },
});

let db: TestDatabase;
let pool: Pool;
let relay: HoldingRelay;
let api: RunningApi;
const prefix = uniqueQueuePrefix('api');

beforeAll(async () => {
  db = await createBridgeTestDatabase('api_deck_view');
  pool = new Pool({ connectionString: db.url, max: 2 });
  // The API reads the database through a relay that can hold its read of the deck's rates.
  const url = new URL(db.url);
  relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, 'rate_entries');
  url.host = `127.0.0.1:${await relay.start()}`;
  const { config } = testApiConfig(db, prefix, { ADMIN_TOKEN, DATABASE_URL: url.toString() });
  api = await startApi(config, pino({ level: 'silent' }), { port: 0 });
});

afterAll(async () => {
  await api?.close();
  await relay?.close();
  await pool?.end();
  await deleteRedisPrefix(prefix);
  await db?.drop();
});

interface DeckPage {
  revision: number;
  markup: Record<string, string>;
  entries: Array<Record<string, unknown>>;
}

const deckPage = async (name: string): Promise<DeckPage> => {
  const reply = await fetch(`${api.url}/admin/pages/rate-decks/${name}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(reply.status).toBe(200);
  return (await reply.json()) as DeckPage;
};

test('a re-import committed between reading the deck and its rates: the page shows one revision, its markup with its rates', async () => {
  expect((await importRateDeck(pool, 'race_page', TARIFF('0.0200'), options('25'))).revision).toBe(1);
  const page = deckPage('race_page');
  // The page has read the deck (revision 1, 25 %) and asked for its rates: the operator's import lands now.
  await relay.heldOnce;
  expect((await importRateDeck(pool, 'race_page', TARIFF('0.0300'), options('50'))).revision).toBe(2);
  relay.release();
  const shown = await page;
  // The rates shown are revision 2's (they were read after the import): so must the revision and the markup be.
  expect(shown.revision).toBe(2);
  expect(shown.markup).toMatchObject({ percent: '50' });
  // 0.03 + 50 %, not revision 1's 25 % on revision 2's rate (0.0375)
  expect(shown.entries).toEqual([expect.objectContaining({ prefix: '44', ratePerMinute: '0.045000', baseRatePerMinute: '0.030000' })]);
});

test('the page shows the billed price (with markup), as `rates show` and rating do, and the base rate beside it', async () => {
  await importRateDeck(pool, 'billed_page', TARIFF('0.0100'), { ...options('25'), csv: {} });
  await pool.query("UPDATE rate_decks SET markup_per_call = 0.002 WHERE name = 'billed_page'");
  const shown = await deckPage('billed_page');
  expect(shown.markup).toEqual({ percent: '25', fixedPerMinute: '0', fixedPerCall: '0.002' });
  expect(shown.entries).toEqual([
    expect.objectContaining({ prefix: '44', ratePerMinute: '0.012500', baseRatePerMinute: '0.010000', connectFee: '0.002000', baseConnectFee: '0.000000' }),
  ]);
});

/**
 * Re-imports the deck 5 times in a row each time the relay holds the API's read of its rates (at
 * most 6 holds), then lets that read go; the API's answer and the imports made.
 */
async function fiveImportsPerRead(reply: Promise<Response>, name: string): Promise<{ status: number; body: any; imports: number }> {
  let imports = 0;
  let held = relay.holdNext();
  for (let hold = 0; hold < 6; hold++) {
    if ((await Promise.race([held.then(() => 'held'), reply.then(() => 'answered')])) === 'answered') break;
    for (let i = 0; i < 5; i++) {
      imports += 1;
      await importRateDeck(pool, name, TARIFF(`0.0${20 + imports}`), options(String(imports)));
    }
    held = relay.holdNext();
    relay.release();
  }
  relay.disarm();
  const response = await reply;
  return { status: response.status, body: await response.json(), imports };
}

test('five re-imports in a row while the page reads the deck: the view and the preview answer one revision, not a bare 500', async () => {
  expect((await importRateDeck(pool, 'busy_page', TARIFF('0.0200'), options('0'))).revision).toBe(1);
  const view = await fiveImportsPerRead(fetch(`${api.url}/admin/pages/rate-decks/busy_page`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 'busy_page');
  expect(view.status).toBe(200);
  // What it shows is one revision: its number, its markup and its rate, the last import's.
  const last = view.imports;
  expect(view.body).toMatchObject({ revision: 1 + last, markup: { percent: String(last) } });
  expect(view.body.entries).toEqual([expect.objectContaining({ prefix: '44', baseRatePerMinute: `0.0${20 + last}000` })]);

  const form = { name: 'busy_page', currency: 'CAD', countryCode: '1', nationalPrefix: '1', csv: TARIFF('0.0300') };
  const preview = await fiveImportsPerRead(
    fetch(`${api.url}/admin/pages/rate-decks/preview`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(form),
    }),
    'busy_page',
  );
  expect(preview.status).toBe(200);
  const stored = 1 + last + preview.imports;
  expect(preview.body).toMatchObject({ ok: true, revision: stored + 1, replaced: 1, added: 0, removed: 0 });
});
