import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import { createPool, importRateDeck, migrateBridgeDatabase, previewRateDeckImport, type RateDeckStoreOptions } from '@ictvoip/store';

// A price list imported ahead keeps the rates in force until it starts, and says how many. Rates that
// had already ended before it (an older list superseded by the one in force) are not "kept in force".

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('rate_deck_kept');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

const CSV = 'prefix,destination,rate_per_minute\n49,Germany,0.020000\n44,United Kingdom,0.030000\n';
const options = (from?: string): RateDeckStoreOptions => ({
  currency: 'EUR',
  numberingPlan: { countryCode: '49' },
  csv: from ? { defaultEffectiveFrom: new Date(from) } : {},
});

test('the third list imported ahead keeps only the second (in force until it starts), not the first one the second had already ended', async () => {
  expect(await importRateDeck(pool, 'lists', CSV, options())).toMatchObject({ ok: true, keptEarlier: 0 });
  expect(await importRateDeck(pool, 'lists', CSV, options('2027-01-01T00:00:00Z'))).toMatchObject({ keptEarlier: 2 });

  const preview = await previewRateDeckImport(pool, 'lists', CSV, options('2027-06-01T00:00:00Z'));
  expect({ kept: preview.keptEarlier, until: preview.keptUntil?.toISOString() }).toEqual({ kept: 2, until: '2027-06-01T00:00:00.000Z' });
  const third = await importRateDeck(pool, 'lists', CSV, options('2027-06-01T00:00:00Z'));
  expect({ kept: third.keptEarlier, until: third.keptUntil?.toISOString() }).toEqual({ kept: 2, until: '2027-06-01T00:00:00.000Z' });
  // All six rows are still stored (the first list still prices calls before 2027): the deck counts them.
  const { rows } = await pool.query<{ entry_count: number; stored: number }>(
    "SELECT entry_count, (SELECT count(*)::int FROM rate_entries e WHERE e.deck_id = d.deck_id) AS stored FROM rate_decks d WHERE name = 'lists'",
  );
  expect(rows[0]).toEqual({ entry_count: 6, stored: 6 });
});
