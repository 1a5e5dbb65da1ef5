import { Pool } from 'pg';
import { type BridgeConfig, loadConfig } from '@ictvoip/config';
import { loadServiceRating, toCharge } from '@ictvoip/operations';
import { formatMoney, rateCdr, type RatingCdr } from '@ictvoip/rating';
import { importRateDeck, migrateBridgeDatabase, RateDeckStoreError, resolveRateDeck, type RateDeckStoreOptions, type ServiceRecord } from '@ictvoip/store';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';

// A deck's own inbound rate (`rates import --inbound-rate`, ictVoIP's package "inbound billing with
// its own rate and increment"): stored with the deck, used for the inbound calls of its plans that
// name no inbound rate or deck, where inbound calls are billed.

const CSV = 'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment\n1,USA,0.010000,0,60,60\n';
const NANP: RateDeckStoreOptions = {
  currency: 'USD',
  numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  markup: { percent: '10' },
  csv: { defaultEffectiveFrom: new Date('2020-01-01T00:00:00Z') },
};
// Only what the rating reads of the configuration.
const CONFIG = { billing: { ...loadConfig({}).billing, excludes: '', billedDirections: ['outbound'], periods: 'calendar' } } as unknown as BridgeConfig;

let db: TestDatabase;
let pool: Pool;

const service = (plan: Record<string, unknown>) => ({ serviceId: 4242, plan }) as unknown as ServiceRecord;
const inboundCall = (billsec: number): RatingCdr => ({
  xmlCdrUuid: '00000000-0000-4000-8000-000000000001',
  direction: 'inbound',
  leg: 'a',
  destinationNumber: '2125550100',
  startStamp: new Date('2025-01-10T10:00:00Z'),
  billsec,
  hangupCause: 'NORMAL_CLEARING',
  domainName: 't1.example',
});

async function rateInbound(plan: Record<string, unknown>, billsec = 31) {
  const rating = await loadServiceRating(pool, service(plan), CONFIG);
  const outcome = rateCdr(inboundCall(billsec), rating.context, 0);
  return { outcome, rating };
}

beforeAll(async () => {
  db = await createTestDatabase('deck_inbound_rate');
  pool = new Pool({ connectionString: db.url, max: 2 });
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('a deck’s inbound rate', () => {
  it('prices the inbound calls of its plans at the flat rate and increments, without the deck’s markup', async () => {
    const stored = await importRateDeck(pool, 'nanp-in', CSV, { ...NANP, inbound: { ratePerMinute: '0.004', increments: '30/6' } });
    expect(stored).toMatchObject({ ok: true, inbound: { ratePerMinute: '0.004000', increments: '30/6' } });
    expect((await resolveRateDeck(pool, 'nanp-in'))?.inbound).toEqual({ ratePerMinute: '0.004000', increments: '30/6' });

    // 31 s at 30/6 = 36 s × 0.004/min = 0.0024
    const { outcome, rating } = await rateInbound({ rateDeck: 'nanp-in', inboundBilling: 'on' });
    expect(outcome.status).toBe('rated');
    if (outcome.status !== 'rated') return;
    expect(formatMoney(outcome.amount)).toBe('0.002400');
    expect(outcome.billableSeconds).toBe(36);
    const charge = toCharge(rating, { cdr: inboundCall(31), startStampText: '2025-01-10 10:00:00+00' }, outcome);
    expect(charge).toMatchObject({ status: 'rated', amount: '0.002400', currency: 'USD', deckId: rating.deck?.deckId });
  });

  it('yields to the plan’s own inbound rate or deck, and bills nothing where inbound calls are not billed', async () => {
    const own = await rateInbound({ rateDeck: 'nanp-in', inboundBilling: 'on', inboundRate: '0.01', inboundIncrement: '60' });
    expect(own.outcome.status === 'rated' && formatMoney(own.outcome.amount)).toBe('0.010000');
    const notBilled = await rateInbound({ rateDeck: 'nanp-in' });
    expect(notBilled.outcome).toMatchObject({ status: 'not_billable', reason: 'DIRECTION_NOT_BILLED' });
  });

  it('a deck without one prices inbound calls by the number called, as before; a re-import without --inbound-rate clears it', async () => {
    await importRateDeck(pool, 'nanp-plain', CSV, NANP);
    const plain = await rateInbound({ rateDeck: 'nanp-plain', inboundBilling: 'on' });
    // the main deck's 0.01/min + 10 % for 60 s
    expect(plain.outcome.status === 'rated' && formatMoney(plain.outcome.amount)).toBe('0.011000');
    const again = await importRateDeck(pool, 'nanp-in', CSV, NANP);
    expect(again.inbound).toBeNull();
    expect((await resolveRateDeck(pool, 'nanp-in'))?.inbound).toBeNull();
  });

  it('refuses a bad price or increment by field, storing nothing', async () => {
    const before = (await pool.query('SELECT count(*)::int AS n FROM rate_decks')).rows[0].n;
    await expect(importRateDeck(pool, 'bad-in', CSV, { ...NANP, inbound: { ratePerMinute: 'free' } })).rejects.toMatchObject({
      constructor: RateDeckStoreError,
      field: 'inbound.ratePerMinute',
    });
    await expect(importRateDeck(pool, 'bad-in', CSV, { ...NANP, inbound: { ratePerMinute: '0.01', increments: '0' } })).rejects.toMatchObject({
      field: 'inbound.increments',
    });
    expect((await pool.query('SELECT count(*)::int AS n FROM rate_decks')).rows[0].n).toBe(before);
  });
});
