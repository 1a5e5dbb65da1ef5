import { cdrSyncLag, chargeTotals, getCdrSyncCursor, importRateDeck, listCharges, RateDeckStoreError } from '@ictvoip/store';
import { DEFAULT_SERVER_NAME } from '@ictvoip/fusionpbx';
import { cdrBacklog, syncTenantCdrs } from '../src';
import { useBillingKit, chargedMicro, expectedMicro, microToDecimal } from './cdr-billing-kit';

const kit = useBillingKit();

const count = async (serviceId: number) =>
  Number((await kit.deps.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM cdr_charges WHERE service_id = $1', [serviceId])).rows[0]?.n);

describe('CDR sync', () => {
  test('happy path: every CDR gets exactly one charge, rated amounts exact, policy reasons kept', async () => {
    const tenant = await kit.addTenant();
    const calls = [
      { destination: '12125550100', billsec: 61 },
      { destination: '12025550100', billsec: 30 },
      { destination: '+4930123456', billsec: 125 },
      { destination: '011 49 30 123456', billsec: 60 },
    ];
    for (const [index, call] of calls.entries()) await kit.insertCdr(tenant, { start: `2025-01-10T10:0${index}:00Z`, ...call });
    await kit.insertCdr(tenant, { start: '2025-01-10T11:00:00Z', billsec: 50, direction: 'inbound' });
    await kit.insertCdr(tenant, { start: '2025-01-10T11:01:00Z', billsec: 0, hangupCause: 'NO_ANSWER' });
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(outcome).toMatchObject({ status: 'synced', read: 6, inserted: 6, rated: 4, notBillable: 2, unrated: 0 });
    const expected = calls.reduce((sum, call) => sum + expectedMicro(call.destination.replace(/\D/g, '').replace(/^011/, ''), call.billsec), 0n);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(expected);
    const reasons = (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId, status: 'not_billable' })).map((charge) => charge.reason).sort();
    expect(reasons).toEqual(['DIRECTION_NOT_BILLED', 'NOT_ANSWERED']);
    const cursor = await getCdrSyncCursor(kit.deps.pool, tenant.serviceId);
    expect(cursor?.lastStartStamp).toBe('2025-01-10T11:01:00.000000Z');
    expect(await cdrBacklog(kit.deps, tenant.serviceId)).toBe(0);
    const [lag] = await cdrSyncLag(kit.deps.pool, tenant.serviceId);
    expect(lag).toMatchObject({ serviceId: tenant.serviceId, chargesTotal: 6, unratedCount: 0 });
    expect(lag!.lagSeconds).toBeGreaterThan(0);
  });

  test('the same sync twice: no duplicate charge, same totals', async () => {
    const tenant = await kit.addTenant();
    for (let i = 0; i < 7; i += 1) await kit.insertCdr(tenant, { start: `2025-01-11T09:00:0${i}Z`, billsec: 10 + i });
    const first = await syncTenantCdrs(kit.deps, tenant.serviceId);
    const totals = await chargeTotals(kit.deps.pool, tenant.serviceId);
    const second = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(first.inserted).toBe(7);
    expect(second.inserted).toBe(0);
    expect(await count(tenant.serviceId)).toBe(7);
    expect(await chargeTotals(kit.deps.pool, tenant.serviceId)).toEqual(totals);
  });

  test('many CDRs sharing one start_stamp (with microseconds) across page boundaries: none lost', async () => {
    const tenant = await kit.addTenant();
    const n = 23; // page size 5: the shared timestamp spans five pages
    for (let i = 0; i < n; i += 1) await kit.insertCdr(tenant, { start: '2025-01-12T08:00:00.123456Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-12T08:00:00.123457Z', billsec: 60 });
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(outcome.inserted).toBe(n + 1);
    expect(outcome.pages).toBeGreaterThanOrEqual(5);
    expect(await count(tenant.serviceId)).toBe(n + 1);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(BigInt(n + 1) * expectedMicro('12125550100', 60));
  });

  test('late CDR inside the look-back window is charged; one beyond it waits for a backfill', async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: '2025-01-13T12:00:00Z', billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const late = await kit.insertCdr(tenant, { start: '2025-01-13T11:30:00Z', billsec: 60 }); // 30 min before the cursor, window 1 h
    const tooLate = await kit.insertCdr(tenant, { start: '2025-01-13T09:00:00Z', billsec: 60 });
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(outcome.inserted).toBe(1);
    const ids = (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.xmlCdrUuid);
    expect(ids).toContain(late);
    expect(ids).not.toContain(tooLate);
    const backfill = await syncTenantCdrs(kit.deps, tenant.serviceId, { from: new Date('2025-01-13T00:00:00Z') });
    expect(backfill.inserted).toBe(1);
    expect(await count(tenant.serviceId)).toBe(3);
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.lastStartStamp).toBe('2025-01-13T12:00:00.000000Z');
  });

  test('unrated call (no rate, bad number) is stored and counted, never priced at 0', async () => {
    const tenant = await kit.addTenant();
    await kit.insertCdr(tenant, { start: '2025-01-14T10:00:00Z', billsec: 60, destination: '+999123' });
    await kit.insertCdr(tenant, { start: '2025-01-14T10:01:00Z', billsec: 60, destination: 'sip:bob@example.com' });
    await kit.insertCdr(tenant, { start: '2025-01-14T10:02:00Z', billsec: 60 });
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(outcome).toMatchObject({ rated: 1, unrated: 2 });
    const unrated = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId, status: 'unrated' });
    expect(unrated.map((charge) => [charge.reason, charge.amount])).toEqual([
      ['NO_MATCHING_RATE', null],
      ['INVALID_NUMBER', null],
    ]);
    expect((await chargeTotals(kit.deps.pool, tenant.serviceId)).unrated).toBe(2);
    expect((await cdrSyncLag(kit.deps.pool, tenant.serviceId))[0]?.unratedCount).toBe(2);
    await expect(kit.deps.pool.query(`UPDATE cdr_charges SET amount = 0 WHERE xml_cdr_uuid = $1`, [unrated[0]!.xmlCdrUuid])).rejects.toThrow(/check constraint/);
  });

  test("billsec as FusionPBX's numeric column gives it: whole digits (leading zeros too) and a zero fraction are seconds; a real fraction is INVALID_CDR", async () => {
    const tenant = await kit.addTenant();
    const forms = ['61', '0061', '61.000', '61.5'];
    const ids: string[] = [];
    for (const [index, form] of forms.entries()) {
      const id = await kit.insertCdr(tenant, { start: `2025-01-14T12:0${index}:00Z`, billsec: 61 });
      // numeric keeps what was written: '0061' reads back as 61, '61.000' as 61.000
      await kit.bridge.fusion.query('UPDATE v_xml_cdr SET billsec = $2::numeric WHERE xml_cdr_uuid = $1', [id, form]);
      ids.push(id);
    }
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect(outcome).toMatchObject({ rated: 3, unrated: 1 });
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    const byId = new Map(charges.map((charge) => [charge.xmlCdrUuid, charge]));
    const amount = microToDecimal(expectedMicro('12125550100', 61));
    expect(ids.map((id) => [byId.get(id)?.billsec, byId.get(id)?.amount ?? byId.get(id)?.reason])).toEqual([
      [61, amount],
      [61, amount],
      [61, amount],
      [0, 'INVALID_CDR'],
    ]);
  });

  test('plan without a known deck: billable calls are unrated NO_RATE_DECK', async () => {
    const tenant = await kit.addTenant({ rateDeck: 'does-not-exist' });
    await kit.insertCdr(tenant, { start: '2025-01-14T11:00:00Z', billsec: 60 });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => charge.reason)).toEqual(['NO_RATE_DECK']);
  });

  test('included minutes are consumed in call order within the period', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 2 });
    await kit.insertCdr(tenant, { start: '2025-01-15T10:00:00Z', billsec: 90 }); // 120 s billable: all included
    await kit.insertCdr(tenant, { start: '2025-01-15T10:05:00Z', billsec: 60 }); // nothing left: billed
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(charges.map((charge) => [charge.includedSeconds, charge.amount])).toEqual([
      [120, '0.000000'],
      [0, '0.013700'],
    ]);
  });

  test('included minutes spanning several pages and two periods in one run: each period allowance used once, in call order', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 7 });
    // Page size 5: January's 7 included minutes run over two pages; February starts its own allowance mid-page.
    for (let i = 0; i < 12; i += 1) await kit.insertCdr(tenant, { start: `2025-01-31T23:${String(40 + i).padStart(2, '0')}:00Z`, billsec: 60 });
    for (let i = 0; i < 9; i += 1) await kit.insertCdr(tenant, { start: `2025-02-01T00:0${i}:00Z`, billsec: 60 });
    const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId, { from: new Date('2025-01-31T00:00:00Z') });
    expect(outcome.pages).toBe(5);
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    const included = (period: string) => charges.filter((charge) => charge.period === period).map((charge) => charge.includedSeconds);
    expect(included('2025-01')).toEqual([...Array(7).fill(60), ...Array(5).fill(0)]);
    expect(included('2025-02')).toEqual([...Array(7).fill(60), 0, 0]);
  });

  test('a look-back re-read with included seconds left: the new CDRs get them, the charged ones are not read nor rated again', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 5 });
    await kit.insertCdr(tenant, { start: '2025-01-18T10:00:00Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-18T10:02:00Z', billsec: 60 });
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId, { from: new Date('2025-01-18T00:00:00Z') })).toMatchObject({ inserted: 2, rated: 2 });
    // A late CDR between the two and a new one after: the look-back reads only those two (180 s left).
    await kit.insertCdr(tenant, { start: '2025-01-18T10:01:00Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-18T10:03:00Z', billsec: 60 });
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 2, inserted: 2, rated: 2, notBillable: 0, unrated: 0 });
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(charges.map((charge) => [charge.startStamp.slice(11, 16), charge.includedSeconds, charge.amount])).toEqual([
      ['10:00', 60, '0.000000'],
      ['10:01', 60, '0.000000'],
      ['10:02', 60, '0.000000'],
      ['10:03', 60, '0.000000'],
    ]);
    // Allowance used up: the charged CDRs are not read again, and a late call is billed in full.
    await kit.insertCdr(tenant, { start: '2025-01-18T10:04:00Z', billsec: 120 });
    await kit.insertCdr(tenant, { start: '2025-01-18T10:05:00Z', billsec: 60 });
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 2, inserted: 2, rated: 2 });
    const after = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    expect(after.slice(4).map((charge) => [charge.includedSeconds, charge.amount])).toEqual([
      [60, '0.013700'],
      [0, '0.013700'],
    ]);
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 0, inserted: 0, rated: 0, notBillable: 0, unrated: 0 });
  });

  test('crash after inserting charges but before commit: nothing of that page; after commit: cursor matches the charges', async () => {
    const tenant = await kit.addTenant();
    for (let i = 0; i < 12; i += 1) await kit.insertCdr(tenant, { start: `2025-01-16T10:00:${String(i).padStart(2, '0')}Z`, billsec: 60 });
    const crash = new Error('simulated crash');
    await expect(
      syncTenantCdrs(kit.deps, tenant.serviceId, {
        hooks: {
          afterInsert: (page) => {
            if (page === 2) throw crash;
          },
        },
      }),
    ).rejects.toBe(crash);
    expect(await count(tenant.serviceId)).toBe(5);
    expect((await getCdrSyncCursor(kit.deps.pool, tenant.serviceId))?.lastStartStamp).toBe('2025-01-16T10:00:04.000000Z');

    const other = await kit.addTenant();
    for (let i = 0; i < 8; i += 1) await kit.insertCdr(other, { start: `2025-01-16T11:00:0${i}Z`, billsec: 60 });
    await expect(
      syncTenantCdrs(kit.deps, other.serviceId, {
        hooks: {
          afterCommit: () => {
            throw crash;
          },
        },
      }),
    ).rejects.toBe(crash);
    const cursor = await getCdrSyncCursor(kit.deps.pool, other.serviceId);
    const charged = await listCharges(kit.deps.pool, { serviceId: other.serviceId });
    expect(charged).toHaveLength(5);
    expect(cursor?.lastXmlCdrUuid).toBe(charged[charged.length - 1]?.xmlCdrUuid);

    await syncTenantCdrs(kit.deps, tenant.serviceId);
    await syncTenantCdrs(kit.deps, other.serviceId);
    expect(await count(tenant.serviceId)).toBe(12);
    expect(await count(other.serviceId)).toBe(8);
  });

  test('two syncs of one tenant at once: each CDR charged once', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 3 });
    for (let i = 0; i < 9; i += 1) await kit.insertCdr(tenant, { start: `2025-01-17T10:00:0${i}Z`, billsec: 60 });
    await Promise.all([syncTenantCdrs(kit.deps, tenant.serviceId), syncTenantCdrs(kit.deps, tenant.serviceId)]);
    expect(await count(tenant.serviceId)).toBe(9);
    const included = (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).reduce((sum, charge) => sum + charge.includedSeconds, 0);
    expect(included).toBe(180);
  });
});

describe('a page that uses included minutes and holds a CDR charged before (issue #20: the check is in the page write)', () => {
  test('the write is refused, the page is rated again without that CDR: the allowance goes to the new calls only', async () => {
    const tenant = await kit.addTenant({ includedMinutes: 3 });
    const old = await kit.insertCdr(tenant, { start: '2025-01-21T10:00:00Z', billsec: 60 });
    await kit.insertCdr(tenant, { start: '2025-01-21T10:01:00Z', billsec: 120 });
    await kit.insertCdr(tenant, { start: '2025-01-21T10:02:00Z', billsec: 120 });
    // Charged under another service (a domain that moved): not in this service's skip list nor its allowance.
    await kit.deps.pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, billable_seconds, included_seconds, status, reason, period)
       VALUES ($1, $2, 'moved.example.com', '2025-01-21T10:00:00Z', 'outbound', 60, 0, 0, 'not_billable', 'TEST', '2025-01')`,
      [old, tenant.serviceId + 900_000],
    );
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 3, inserted: 2, rated: 2 });
    const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
    // Had the old CDR been counted, the second call would have had no included seconds left and paid 2 minutes.
    expect(charges.map((charge) => [charge.includedSeconds, charge.amount])).toEqual([
      [120, '0.000000'],
      [60, microToDecimal(expectedMicro('12125550100', 60))],
    ]);
  });
});

describe('late CDRs through the look-back (issue #20: the charged ones are not read again)', () => {
  const at = (minute: number, micro = '000000') => `2025-01-20T10:${String(minute).padStart(2, '0')}:00.${micro}Z`;
  const destinations = ['12125550100', '12025550100', '+4930123456'];

  /** A tenant with 12 charged CDRs from 10:00 to 10:55 (cursor at 10:55, look-back 3600 s back to 09:55). */
  async function chargedTenant() {
    const tenant = await kit.addTenant();
    for (let i = 0; i < 12; i += 1) await kit.insertCdr(tenant, { start: at(i * 5), billsec: 60, destination: destinations[i % 3] });
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 12, inserted: 12 });
    return tenant;
  }

  /** Seven late CDRs inside the look-back, one sharing a charged CDR's exact stamp; their expected amount. */
  async function insertLate(tenant: Awaited<ReturnType<typeof chargedTenant>>): Promise<bigint> {
    let expected = 0n;
    for (const [index, minute] of [1, 5, 12, 23, 34, 47, 55].entries()) {
      const call = { billsec: 61 + index, destination: destinations[index % 3]! };
      await kit.insertCdr(tenant, { start: at(minute), ...call });
      expected += expectedMicro(call.destination.replace(/\D/g, ''), call.billsec);
    }
    return expected;
  }

  test('late CDRs over two pages are read alone and charged once; one older than the look-back is left as before; a repeat reads nothing', async () => {
    const tenant = await chargedTenant();
    const before = await chargedMicro(kit.deps, tenant.serviceId);
    const expectedLate = await insertLate(tenant);
    await kit.insertCdr(tenant, { start: '2025-01-20T09:50:00Z', billsec: 60 });
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ pages: 2, read: 7, inserted: 7, rated: 7 });
    expect(await count(tenant.serviceId)).toBe(19);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(before + expectedLate);
    const totals = await chargeTotals(kit.deps.pool, tenant.serviceId);
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ pages: 0, read: 0, inserted: 0 });
    expect(await chargeTotals(kit.deps.pool, tenant.serviceId)).toEqual(totals);
  });

  test('crash in the middle of the late pages: the committed page stays, the next sync reads and charges only the rest', async () => {
    const tenant = await chargedTenant();
    const before = await chargedMicro(kit.deps, tenant.serviceId);
    const expectedLate = await insertLate(tenant);
    const crash = new Error('simulated crash');
    const hooks = {
      afterInsert: (page: number) => {
        if (page === 2) throw crash;
      },
    };
    await expect(syncTenantCdrs(kit.deps, tenant.serviceId, { hooks })).rejects.toBe(crash);
    expect(await count(tenant.serviceId)).toBe(17);
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 2, inserted: 2 });
    expect(await count(tenant.serviceId)).toBe(19);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(before + expectedLate);
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 0, inserted: 0 });
  });

  test('a charge the skip list misses (another period label) is read again and still not charged twice', async () => {
    const tenant = await chargedTenant();
    const totals = await chargeTotals(kit.deps.pool, tenant.serviceId);
    await kit.deps.pool.query(`UPDATE cdr_charges SET period = '2024-12' WHERE service_id = $1 AND start_stamp = $2`, [tenant.serviceId, at(30)]);
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 1, inserted: 0 });
    expect(await count(tenant.serviceId)).toBe(12);
    expect(await chargeTotals(kit.deps.pool, tenant.serviceId)).toEqual(totals);
  });
});

describe('a look-back over many charged CDRs (issue #20: each read sends a slice of the charged list, not all of it)', () => {
  /** `starts` as one tenant's outbound a-leg CDRs of 60 s to 1 212 555 0100, in one statement. */
  async function insertMany(tenant: { domainUuid: string; domainName: string }, starts: readonly string[]): Promise<void> {
    await kit.bridge.fusion.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
       SELECT gen_random_uuid(), $1, $2, 'outbound', 'a', '12125550100', '12125550100', s, 60, 'NORMAL_CLEARING' FROM unnest($3::timestamptz[]) AS s`,
      [tenant.domainUuid, tenant.domainName, starts],
    );
  }
  const second = (s: number) => new Date(Date.parse('2025-01-22T10:00:00Z') + s * 1000).toISOString();

  test('late CDRs interleaved with 200 charged ones over 20 pages: charged once, the uuids sent grow with the charged, not pages × charged', async () => {
    const tenant = await kit.addTenant();
    const charged = 200;
    await insertMany(
      tenant,
      Array.from({ length: charged }, (_, i) => second(i * 15)),
    );
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: charged, inserted: charged });
    // 100 late calls among the first half of the charged ones (page size 5: 20 pages), none in the second half, 3 new after the cursor.
    await insertMany(tenant, [...Array.from({ length: 100 }, (_, i) => second(i * 15 + 7)), second(charged * 15), second(charged * 15 + 1), second(charged * 15 + 2)]);
    const before = await chargedMicro(kit.deps, tenant.serviceId);
    const target = await kit.deps.targets.get(DEFAULT_SERVER_NAME);
    // The spy calls through: what each look-back read sent as its skip list ($5) is read off its calls.
    const spy = jest.spyOn(target.pool, 'query');
    let sent: number[] = [];
    try {
      const outcome = await syncTenantCdrs(kit.deps, tenant.serviceId);
      sent = spy.mock.calls
        .filter(([text]) => typeof text === 'string' && text.includes('unnest($5::uuid[])'))
        .map(([, values]) => (values as unknown[])[4] as string[])
        .map((ids) => ids.length);
      expect(outcome).toMatchObject({ read: 103, inserted: 103, rated: 103, more: false });
      // One read per page, plus at most one where the late calls end (a bounded read that comes back short) and the last.
      expect(sent.length).toBeLessThanOrEqual(outcome.pages + 2);
    } finally {
      spy.mockRestore();
    }
    // Every charged uuid sent about three times at most; sending each page all the rest was 200 + 195 + … ≈ 3,000.
    expect(sent[0]).toBe(charged);
    expect(sent.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(3 * charged);
    expect(await count(tenant.serviceId)).toBe(303);
    expect(await chargedMicro(kit.deps, tenant.serviceId)).toBe(before + 103n * expectedMicro('12125550100', 60));
    expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ read: 0, inserted: 0 });
  });
});

describe('rate deck import into the store', () => {
  test('a bad line imports nothing and the report names it; bad options name the field', async () => {
    const bad = 'prefix,destination,rate_per_minute\n44,UK,0.01\n33,France,abc\n';
    const result = await importRateDeck(kit.deps.pool, 'broken', bad, { currency: 'EUR', numberingPlan: { countryCode: '33' } });
    expect(result.ok).toBe(false);
    expect(result.report.issues[0]).toMatchObject({ line: 3 });
    const { rows } = await kit.deps.pool.query(`SELECT 1 FROM rate_decks WHERE name = 'broken'`);
    expect(rows).toHaveLength(0);
    await expect(importRateDeck(kit.deps.pool, 'x', bad, { currency: 'euro', numberingPlan: { countryCode: '33' } })).rejects.toMatchObject({
      code: 'RATE_DECK_OPTIONS_INVALID',
      field: 'currency',
    });
    await expect(importRateDeck(kit.deps.pool, 'x', bad, { currency: 'EUR', numberingPlan: { countryCode: '033' } })).rejects.toBeInstanceOf(RateDeckStoreError);
  });

  test('re-importing a deck replaces its entries and bumps the revision', async () => {
    const csv = 'prefix,destination,rate_per_minute\n44,UK,0.01\n';
    const first = await importRateDeck(kit.deps.pool, 'uk', csv, { currency: 'GBP', numberingPlan: { countryCode: '44' } });
    const second = await importRateDeck(kit.deps.pool, 'uk', `${csv}4420,London,0.02\n`, { currency: 'GBP', numberingPlan: { countryCode: '44' } });
    expect([first.revision, second.revision]).toEqual([1, 2]);
    expect(second.deckId).toBe(first.deckId);
    const { rows } = await kit.deps.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM rate_entries WHERE deck_id = $1', [second.deckId]);
    expect(rows[0]?.n).toBe('2');
  });
});
