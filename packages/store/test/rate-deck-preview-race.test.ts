import type { Pool } from 'pg';
import { createTestDatabase, HoldingRelay, type TestDatabase } from '@ictvoip/testkit';
import { createPool, importRateDeck, migrateBridgeDatabase, previewRateDeckImport, type RateDeckStoreOptions } from '@ictvoip/store';

// The dry run (`rates import --dry-run`, the addon's Preview) reads the stored deck, then its rates:
// an import committing in between must not give "replaces revision 1 (1 rate)" counted against
// revision 2's rates. It compares with one revision.

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('rate_deck_preview_race');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

const options: RateDeckStoreOptions = { currency: 'EUR', numberingPlan: { countryCode: '49' } };
const ONE = 'prefix,destination,rate_per_minute\n49,Germany,0.020000\n';
const TWO = 'prefix,destination,rate_per_minute\n49,Germany,0.020000\n44,United Kingdom,0.030000\n';

test('a re-import committed between reading the deck and its rates: the dry run compares with one revision', async () => {
  expect((await importRateDeck(pool, 'preview_race', ONE, options)).revision).toBe(1);
  const url = new URL(db.url);
  const relay = new HoldingRelay({ host: url.hostname, port: Number(url.port || 5432) }, 'LEFT JOIN rate_entries');
  url.host = `127.0.0.1:${await relay.start()}`;
  const relayed = createPool(url.toString());
  try {
    const previewing = previewRateDeckImport(relayed, 'preview_race', TWO, options);
    await relay.heldOnce;
    expect((await importRateDeck(pool, 'preview_race', TWO, options)).revision).toBe(2);
    relay.release();
    const preview = await previewing;
    // Against revision 2 (both rates stored): nothing added, both unchanged, and it says revision 2 and 3.
    expect({ existing: preview.existing?.revision, entries: preview.existing?.entryCount, revision: preview.revision, added: preview.added, unchanged: preview.unchanged }).toEqual(
      {
        existing: 2,
        entries: 2,
        revision: 3,
        added: 0,
        unchanged: 2,
      },
    );
  } finally {
    await relayed.end();
    await relay.close();
  }
});
