import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Pool } from 'pg';
import { createTestDatabase, type TestDatabase } from '@ictvoip/testkit';
import {
  ChargeValueError,
  chargeInsertParameters,
  createPool,
  getCdrSyncCursor,
  insertCharges,
  listCharges,
  migrateBridgeDatabase,
  writeChargePage,
  type NewCharge,
} from '@ictvoip/store';

/**
 * The charges insert writes its own array literals (not pg's encoder): whatever text a CDR
 * carries (quotes, backslashes, commas, braces, spaces, the word NULL, any Unicode) must come
 * back from PostgreSQL exactly as it went in, and NULLs must stay NULL.
 */
let db: TestDatabase;
let pool: Pool;
let nextService = 1;

beforeAll(async () => {
  db = await createTestDatabase('cdr_charges_insert');
  pool = createPool(db.url);
  await migrateBridgeDatabase(pool);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

function charge(serviceId: number, second: number, overrides: Partial<NewCharge> = {}): NewCharge {
  return {
    xmlCdrUuid: randomUUID(),
    serviceId,
    domainName: 'tenant.example.com',
    startStamp: `2026-01-20T09:00:${String(second % 60).padStart(2, '0')}.${String(second).padStart(6, '0').slice(-6)}Z`,
    direction: 'outbound',
    destination: '+4930123456',
    billsec: 61,
    billableSeconds: 120,
    includedSeconds: 0,
    amount: '0.024000',
    currency: 'USD',
    status: 'rated',
    reason: null,
    deckId: 7,
    deckRevision: 3,
    period: '2026-01',
    ...overrides,
  };
}

/** A page write of `charges` that moves the cursor to its last charge (what the sync does). */
function writePage(charges: readonly NewCharge[], serviceId = charges[0]?.serviceId ?? 0) {
  const last = charges[charges.length - 1];
  const cursor = {
    serviceId,
    domainUuid: '6f1c2b8e-0000-4000-8000-0000000000ff',
    domainName: 'tenant.example.com',
    startStamp: last?.startStamp ?? '2026-01-20T09:00:00.000000Z',
    xmlCdrUuid: last?.xmlCdrUuid ?? randomUUID(),
  };
  return writeChargePage(pool, { charges, cursor, onlyIfNoneCharged: false });
}

/** What listCharges gives back for what was inserted (stored fields only). */
function stored(charges: readonly NewCharge[]): NewCharge[] {
  return charges.map((c) => ({ ...c }));
}

async function readBack(serviceId: number): Promise<NewCharge[]> {
  const rows = await listCharges(pool, { serviceId });
  return rows.map(({ batchId: _batch, prepaidInvoice: _invoice, ratedAt: _at, ...rest }) => rest);
}

describe('charges insert (own array literals)', () => {
  it('round-trips awkward text and NULLs exactly', async () => {
    const serviceId = nextService++;
    const awkward = ['a"b', 'back\\slash', 'x,y', '{braces}', ' spaced ', 'NULL', 'null', '', 'é ü 日本 🎉', '"', '\\', '\\"', 'tab\there', 'line\nbreak'];
    const charges = awkward.map((text, i) =>
      charge(serviceId, i, {
        domainName: text === '' ? 'd' : text,
        destination: text,
        reason: text,
        status: 'unrated',
        amount: null,
        currency: null,
        deckId: null,
        deckRevision: null,
      }),
    );
    charges.push(charge(serviceId, 40, { destination: null, reason: null }));
    const inserted = await writePage(charges);
    expect(inserted).toEqual({ taken: false, inserted: charges.length, rated: 1, unrated: charges.length - 1, notBillable: 0 });
    const back = await readBack(serviceId);
    const byUuid = new Map(back.map((row) => [row.xmlCdrUuid, row]));
    for (const sent of stored(charges)) expect(byUuid.get(sent.xmlCdrUuid)).toEqual(sent);
  });

  it('round-trips random text (property)', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\u0000'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(text, fc.option(text, { nil: null })), { minLength: 1, maxLength: 20 }), async (rows) => {
        const serviceId = nextService++;
        const charges = rows.map(([domain, reason], i) =>
          charge(serviceId, i, { domainName: domain, destination: reason, reason, status: 'not_billable', amount: null, currency: null }),
        );
        expect(await insertCharges(pool, charges)).toBe(charges.length);
        const back = new Map((await readBack(serviceId)).map((row) => [row.xmlCdrUuid, row]));
        for (const sent of charges) expect(back.get(sent.xmlCdrUuid)).toEqual(sent);
      }),
      { numRuns: 40 },
    );
  });

  it('skips CDRs already charged and counts only the new rows by status', async () => {
    const serviceId = nextService++;
    const first = [charge(serviceId, 1), charge(serviceId, 2, { status: 'not_billable', amount: null, reason: 'B_LEG' })];
    expect(await writePage(first)).toEqual({ taken: false, inserted: 2, rated: 1, unrated: 0, notBillable: 1 });
    const again = [...first, charge(serviceId, 3, { status: 'unrated', amount: null, reason: 'NO_MATCHING_RATE' })];
    expect(await writePage(again)).toEqual({ taken: false, inserted: 1, rated: 0, unrated: 1, notBillable: 0 });
    expect(await writePage([], serviceId)).toEqual({ taken: false, inserted: 0, rated: 0, unrated: 0, notBillable: 0 });
    expect(await insertCharges(pool, again)).toBe(0);
  });

  it('refuses a number column that is not a whole number, naming it, before anything is sent', () => {
    expect(() => chargeInsertParameters([charge(1, 1, { billsec: 1.5 })])).toThrow(ChargeValueError);
    expect(() => chargeInsertParameters([charge(1, 1, { billsec: 1.5 })])).toThrow(/billsec/);
    expect(() => chargeInsertParameters([charge(1, 1, { domainName: 5 as unknown as string })])).toThrow(/domainName/);
  });

  it('sends one cdr_charge_row per charge whose fields are the columns it fills, with their base types', async () => {
    const { rows } = await pool.query<{ field: string; row_type: string; column_type: string | null }>(
      `SELECT f.attname AS field, format_type(f.atttypid, NULL) AS row_type, format_type(c.atttypid, NULL) AS column_type
         FROM pg_attribute f LEFT JOIN pg_attribute c ON c.attrelid = 'cdr_charges'::regclass AND c.attname = f.attname AND NOT c.attisdropped
        WHERE f.attrelid = 'cdr_charge_row'::regclass AND f.attnum > 0 AND NOT f.attisdropped ORDER BY f.attnum`,
    );
    expect(rows.map((row) => row.field)).toEqual([
      'xml_cdr_uuid',
      'service_id',
      'domain_name',
      'start_stamp',
      'direction',
      'destination',
      'billsec',
      'billable_seconds',
      'included_seconds',
      'amount',
      'currency',
      'status',
      'reason',
      'deck_id',
      'deck_revision',
      'period',
    ]);
    // currency is char(3) in the table: text in the row, coerced (and length-checked) by the insert.
    for (const row of rows) expect([row.field, row.row_type]).toEqual([row.field, row.field === 'currency' ? 'text' : row.column_type]);
    expect(rows.find((row) => row.field === 'currency')?.column_type).toBe('character');
  });

  it("still applies the table's checks to every row of the array", async () => {
    const serviceId = nextService++;
    const refused: Partial<NewCharge>[] = [
      { amount: null },
      { period: '2026-13' },
      { period: '2026-01-01' },
      { billsec: -1 },
      { status: 'free' as NewCharge['status'] },
      { currency: 'DOLLAR' },
    ];
    for (const [i, bad] of refused.entries()) {
      await expect(writePage([charge(serviceId, 2 * i), charge(serviceId, 2 * i + 1, bad)])).rejects.toThrow(/violates check constraint|value too long/);
    }
    expect(await readBack(serviceId)).toEqual([]);
  });
});

describe('a page write (charges and cursor in one statement)', () => {
  const domainUuid = '6f1c2b8e-0000-4000-8000-000000000001';
  const cursorAt = (serviceId: number, last: NewCharge) => ({ serviceId, domainUuid, domainName: 'tenant.example.com', startStamp: last.startStamp, xmlCdrUuid: last.xmlCdrUuid });

  it('inserts the new charges, counts them by status and moves the cursor forward only', async () => {
    const serviceId = nextService++;
    const page1 = [charge(serviceId, 1), charge(serviceId, 2, { status: 'not_billable', amount: null, reason: 'B_LEG' })];
    expect(await writeChargePage(pool, { charges: page1, cursor: cursorAt(serviceId, page1[1]!), onlyIfNoneCharged: false })).toEqual({
      taken: false,
      inserted: 2,
      rated: 1,
      unrated: 0,
      notBillable: 1,
    });
    expect(await getCdrSyncCursor(pool, serviceId)).toMatchObject({ lastStartStamp: page1[1]!.startStamp, chargesTotal: 2, lastRunInserted: 2 });
    // A look-back page behind the cursor, one CDR of it charged already: only the new one counts, the cursor stays.
    const late = charge(serviceId, 0, { status: 'unrated', amount: null, reason: 'NO_MATCHING_RATE' });
    expect(await writeChargePage(pool, { charges: [late, page1[0]!], cursor: cursorAt(serviceId, page1[0]!), onlyIfNoneCharged: false })).toMatchObject({
      taken: false,
      inserted: 1,
      unrated: 1,
    });
    expect(await getCdrSyncCursor(pool, serviceId)).toMatchObject({ lastStartStamp: page1[1]!.startStamp, chargesTotal: 3, lastRunInserted: 1 });
    expect(await readBack(serviceId)).toHaveLength(3);
  });

  it('onlyIfNoneCharged: one CDR of the page charged before → nothing written, the cursor not moved, taken; none charged → written', async () => {
    const serviceId = nextService++;
    const first = [charge(serviceId, 1, { includedSeconds: 60 })];
    expect(await writeChargePage(pool, { charges: first, cursor: cursorAt(serviceId, first[0]!), onlyIfNoneCharged: true })).toMatchObject({ taken: false, inserted: 1 });
    const next = [charge(serviceId, 2, { includedSeconds: 60 }), charge(serviceId, 3)];
    const withOld = [first[0]!, ...next];
    expect(await writeChargePage(pool, { charges: withOld, cursor: cursorAt(serviceId, next[1]!), onlyIfNoneCharged: true })).toEqual({
      taken: true,
      inserted: 0,
      rated: 0,
      unrated: 0,
      notBillable: 0,
    });
    expect(await readBack(serviceId)).toHaveLength(1);
    expect(await getCdrSyncCursor(pool, serviceId)).toMatchObject({ lastXmlCdrUuid: first[0]!.xmlCdrUuid, chargesTotal: 1 });
    expect(await writeChargePage(pool, { charges: next, cursor: cursorAt(serviceId, next[1]!), onlyIfNoneCharged: true })).toMatchObject({ taken: false, inserted: 2 });
    expect(await getCdrSyncCursor(pool, serviceId)).toMatchObject({ lastXmlCdrUuid: next[1]!.xmlCdrUuid, chargesTotal: 3 });
  });

  it('an empty page (every CDR of it charged and left out) still moves the cursor', async () => {
    const serviceId = nextService++;
    const only = charge(serviceId, 5);
    expect(await writeChargePage(pool, { charges: [], cursor: cursorAt(serviceId, only), onlyIfNoneCharged: false })).toMatchObject({ taken: false, inserted: 0 });
    expect(await getCdrSyncCursor(pool, serviceId)).toMatchObject({ lastXmlCdrUuid: only.xmlCdrUuid, chargesTotal: 0 });
  });
});
