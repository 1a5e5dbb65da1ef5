// `rates show` is what an operator compares with the addon's deck page: the price the customer is
// billed (the deck's markup applied) with the base rate beside it, and the deck (its markup) and its
// rates of one revision, also while an import commits between the two reads.
import { Pool } from 'pg';
import { createBridgeTestDatabase, deleteRedisPrefix, HoldingRelay, TEST_REDIS_URL, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { importRateDeck, type RateDeckStoreOptions } from '@ictvoip/store';
import { runCli } from './run-cli';

const TARIFF = (uk: string) => `Description,Prefix,RateValue,Increment\r\nUnited Kingdom,44,${uk},6\r\n`;
const options = (percent: string): RateDeckStoreOptions => ({
  currency: 'CAD',
  numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  markup: { percent },
});

let db: TestDatabase;
let pool: Pool;
const prefix = uniqueQueuePrefix('cli');
const envOf = (url: string) => ({ NODE_ENV: 'test', DATABASE_URL: url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' });

beforeAll(async () => {
  db = await createBridgeTestDatabase('cli_rates_view');
  pool = new Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await deleteRedisPrefix(prefix);
  await db?.drop();
});

test('a re-import committed between reading the deck and its rates: `rates show` prices with one revision, its markup with its rates', async () => {
  expect((await importRateDeck(pool, 'race_show', TARIFF('0.0200'), options('25'))).revision).toBe(1);
  const url = new URL(db.url);
  const relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, 'LEFT JOIN rate_entries');
  url.host = `127.0.0.1:${await relay.start()}`;
  try {
    const show = runCli(envOf(url.toString()), ['rates', 'show', '011442079460000', '--deck', 'race_show', '--json']);
    // The CLI has read the deck (revision 1, 25 %) and asked for its rates: the operator's import lands now.
    await relay.heldOnce;
    expect((await importRateDeck(pool, 'race_show', TARIFF('0.0300'), options('50'))).revision).toBe(2);
    relay.release();
    const shown = await show;
    expect(shown.code).toBe(0);
    // Revision 2's rate with revision 2's 50 %: 0.045, never 0.0375 (revision 1's 25 % on revision 2's rate) named revision 1.
    expect({ revision: shown.json.revision, rate: (shown.json.rate as { ratePerMinute: string }).ratePerMinute }).toEqual({ revision: 2, rate: '0.045000' });
  } finally {
    await relay.close();
  }
}, 60_000);

test('`rates show` says the billed price is the marked-up one and gives the base rate beside it', async () => {
  await importRateDeck(pool, 'billed_show', TARIFF('0.0100'), options('25'));
  const json = await runCli(envOf(db.url), ['rates', 'show', '011442079460000', '--deck', 'billed_show', '--json']);
  expect(json.json).toMatchObject({
    markup: '25 %',
    rate: { prefix: '44', ratePerMinute: '0.012500', baseRatePerMinute: '0.010000', connectFee: '0.000000', baseConnectFee: '0.000000' },
  });
  const text = await runCli(envOf(db.url), ['rates', 'show', '011442079460000', '--deck', 'billed_show']);
  expect(text.stdout).toContain('billed 0.012500/min, connect 0.000000 (markup 25 %; base 0.010000/min, connect 0.000000)');
}, 60_000);
