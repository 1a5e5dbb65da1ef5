import { Pool } from 'pg';
import { type BridgeConfig, loadConfig } from '@ictvoip/config';
import { loadServiceRating, toCharge } from '@ictvoip/operations';
import { formatMoney, rateCdr, type RatingCdr } from '@ictvoip/rating';
import { importRateDeck, migrateBridgeDatabase, type RateDeckStoreOptions, type ServiceRecord } from '@ictvoip/store';
import { createTestDatabase, HoldingRelay, type TestDatabase } from '@ictvoip/testkit';

// A deck re-imported while a CDR sync loads it: the sync reads the deck (revision N), then its rates;
// an import committing in between makes the rates revision N+1. The sync must rate with one whole
// revision, never with no rates at all (every call of the page stored unrated, left off the invoice
// until someone re-rates the period by hand).

const OPTIONS: RateDeckStoreOptions = { currency: 'USD', numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } };
const CSV = (rate: string) => `Description,Prefix,RateValue,Increment\nUnited Kingdom,44,${rate},60\n`;
const CONFIG = { billing: { ...loadConfig({}).billing, excludes: '', billedDirections: ['outbound'], periods: 'calendar' } } as unknown as BridgeConfig;
const service = { serviceId: 5151, plan: { rateDeck: 'uk_race' } } as unknown as ServiceRecord;
const call: RatingCdr = {
  xmlCdrUuid: '00000000-0000-4000-8000-00000000a001',
  direction: 'outbound',
  leg: 'a',
  destinationNumber: '011442079460000',
  startStamp: new Date('2026-11-10T10:00:00Z'),
  billsec: 60,
  hangupCause: 'NORMAL_CLEARING',
  domainName: 't1.example',
};

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('deck_reimport_race');
  pool = new Pool({ connectionString: db.url, max: 2 });
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

test('a re-import committed between reading the deck and its rates: the calls are rated with one whole revision, not left unrated', async () => {
  expect((await importRateDeck(pool, 'uk_race', CSV('0.0200'), OPTIONS)).revision).toBe(1);

  const url = new URL(db.url);
  const relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, 'LEFT JOIN rate_entries');
  url.host = `127.0.0.1:${await relay.start()}`;
  const relayed = new Pool({ connectionString: url.toString(), max: 1 });
  try {
    const loading = loadServiceRating(relayed, service, CONFIG, () => '2026-11');
    // The sync has read the deck (revision 1) and asked for its rates: the operator's import lands now.
    await relay.heldOnce;
    expect((await importRateDeck(pool, 'uk_race', CSV('0.0300'), OPTIONS)).revision).toBe(2);
    relay.release();
    const rating = await loading;

    const outcome = rateCdr(call, rating.context, 0);
    expect(outcome).toMatchObject({ status: 'rated', prefix: '44' });
    const charge = toCharge(rating, { cdr: call, startStampText: call.startStamp.toISOString() } as Parameters<typeof toCharge>[1], outcome);
    // The price and the revision the charge names are the same import's.
    expect({ amount: charge.amount, revision: charge.deckRevision }).toEqual({ amount: '0.030000', revision: 2 });
    expect(formatMoney(outcome.status === 'rated' ? outcome.ratePerMinute : 0n)).toBe('0.030000');
  } finally {
    await relayed.end();
    await relay.close();
  }
});
