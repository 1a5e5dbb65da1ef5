import { randomUUID } from 'node:crypto';
import type { Worker } from 'bullmq';
import { cdrSyncJobId, QUEUE_NAMES } from '@ictvoip/queue';
import { createPrepaidInvoice, getCdrSyncCursor, importRateDeck, recordCdrSyncRun } from '@ictvoip/store';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { fanOutCdrSync, syncTenantCdrs } from '../src';
import { runDriftJob } from '../src/jobs/maintenance/drift-job';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';
import { DECK_CSV, expectedMicro, microToDecimal } from './cdr-billing-kit';
import { startBridge, type Bridge } from './harness';

// CDR_SYNC_EVERY_SECONDS=300: twelve slots an hour, a settled tenant's is `service_id % 12`.
const EVERY_MS = 300_000;
const SLOTS = 12;
const RETENTION_DAYS = 30;

let bridge: Bridge;
let cdrWorker: Worker;

beforeAll(async () => {
  bridge = await startBridge({ CDR_SYNC_EVERY_SECONDS: '300', BILLING_CLOSE_DELAY_SECONDS: '21600', TERMINATE_RETENTION_DAYS: String(RETENTION_DAYS) });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  // The jobs wait in the queue, where the test counts them.
  cdrWorker = bridge.worker!.workers.find((worker) => worker.name === QUEUE_NAMES.cdrSync)!;
  await cdrWorker.pause();
});
afterAll(async () => {
  await bridge.close();
});

const queue = () => bridge.worker!.deps.queues[QUEUE_NAMES.cdrSync];
const db = () => bridge.worker!.deps.pool;

/** A time in the current hour whose fan-out slot has phase `phase` (slot index % 12); slots of the hour are distinct per phase. */
function slotAt(phase: number): Date {
  const hourStart = Math.floor(Date.now() / 3600_000) * 3600_000;
  return new Date(hourStart + phase * EVERY_MS + 1000);
}

const slotOf = (at: Date) => `t${Math.floor(at.getTime() / EVERY_MS)}`;

/** The service ids with a waiting sync job of the slot at `at`. */
async function queuedFor(at: Date, serviceIds: readonly number[]): Promise<number[]> {
  const found: number[] = [];
  for (const serviceId of serviceIds) if (await queue().getJob(cdrSyncJobId(serviceId, slotOf(at)))) found.push(serviceId);
  return found;
}

async function seedService(serviceId: number, desired: string, observed: string | null, options: { terminatedDaysAgo?: number; domain?: string | null } = {}): Promise<void> {
  const domain = options.domain === undefined ? `f${serviceId}.pbx.example.net` : options.domain;
  await db().query(
    `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, observed_state, updated_at)
     VALUES ($1, 7, $2, $3, $4, now() - make_interval(days => $5))`,
    [serviceId, domain, desired, observed, options.terminatedDaysAgo ?? 0],
  );
}

/** A sync cursor last run `hoursAgo` (the tenant's calls read up to then). */
async function seedCursor(serviceId: number, hoursAgo: number): Promise<void> {
  await db().query(
    `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
     VALUES ($1, $2, $3, now() - interval '3 days', $4, now() - make_interval(hours => $5))`,
    [serviceId, randomUUID(), `f${serviceId}.pbx.example.net`, randomUUID(), hoursAgo],
  );
}

async function seedUnbilledCharge(serviceId: number): Promise<void> {
  await db().query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, status, period)
     VALUES ($1, $2, $3, now() - interval '2 days', 'outbound', 30, '0.120000', 'rated', to_char(now(), 'YYYY-MM'))`,
    [randomUUID(), serviceId, `f${serviceId}.pbx.example.net`],
  );
}

/** The prepaid invoicing job's first step: the service's unbilled calls put on a prepaid invoice (not yet in WHMCS). */
async function invoicePrepaid(serviceId: number): Promise<void> {
  const client = await db().connect();
  try {
    expect(await createPrepaidInvoice(client, { serviceId, clientId: 7, day: '2026-01-01' })).not.toBeNull();
  } finally {
    client.release();
  }
}

describe('the CDR sync fan-out', () => {
  // Ids whose settled slot (id % 12) is 5, so any other phase is not theirs.
  const active = 7001;
  const suspended = 7002;
  const purged = 7003;
  const terminatedRecently = 7004;
  const settled = 7013; // 7013 % 12 = 5
  const settledNoCalls = 7025; // 7025 % 12 = 5: terminated, no calls ever, synced since (a run that read nothing)
  const neverSynced = 7085; // 7085 % 12 = 5: terminated two days ago, no cursor: no sync has read it (calls of it may wait in FusionPBX)
  const terminatedUnbilled = 7037; // settled but for a late call not billed yet
  const syncedBeforeLastChange = 7049; // its last sync was before the service's last change
  const noDomain = 7050;
  const prepaidInvoiced = 7061; // 7061 % 12 = 5: prepaid, every call on a prepaid invoice (never a batch)
  const prepaidUnbilled = 7073; // 7073 % 12 = 5: prepaid, a late call on no invoice yet
  const all = [
    active,
    suspended,
    purged,
    terminatedRecently,
    settled,
    settledNoCalls,
    terminatedUnbilled,
    syncedBeforeLastChange,
    noDomain,
    prepaidInvoiced,
    prepaidUnbilled,
    neverSynced,
  ];

  beforeAll(async () => {
    await seedService(active, 'active', 'active');
    await seedService(suspended, 'suspended', 'suspended');
    await seedService(purged, 'terminated', 'purged', { terminatedDaysAgo: 40 });
    await seedCursor(purged, 24 * 35);
    await seedService(terminatedRecently, 'terminated', 'terminated');
    await seedService(settled, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedCursor(settled, 1);
    await seedService(settledNoCalls, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await recordCdrSyncRun(db(), { serviceId: settledNoCalls, domainUuid: randomUUID(), domainName: `f${settledNoCalls}.pbx.example.net`, startStamp: '2026-01-01T00:00:00Z' });
    await seedService(neverSynced, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedService(terminatedUnbilled, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedCursor(terminatedUnbilled, 1);
    await seedUnbilledCharge(terminatedUnbilled);
    await seedService(syncedBeforeLastChange, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedCursor(syncedBeforeLastChange, 24 * 3);
    await seedService(noDomain, 'active', null, { domain: null });
    for (const prepaid of [prepaidInvoiced, prepaidUnbilled]) {
      await seedService(prepaid, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
      await db().query(`UPDATE services SET plan = '{"billingMode":"prepaid"}' WHERE service_id = $1`, [prepaid]);
      await seedCursor(prepaid, 1);
      await seedUnbilledCharge(prepaid);
      await invoicePrepaid(prepaid);
    }
    await seedUnbilledCharge(prepaidUnbilled);
  });
  afterEach(async () => {
    await queue().drain();
  });

  it('syncs live, suspended and recently terminated tenants every slot, never a purged one, a settled terminated one in its slot of the hour', async () => {
    const elsewhere = slotAt(2);
    const outcome = await fanOutCdrSync(bridge.worker!.deps, elsewhere);
    const everySlot = [active, suspended, terminatedRecently, terminatedUnbilled, syncedBeforeLastChange, prepaidUnbilled, neverSynced];
    expect(await queuedFor(elsewhere, all)).toEqual(everySlot);
    expect(outcome.enqueued).toBe(everySlot.length);

    const own = slotAt(5);
    await fanOutCdrSync(bridge.worker!.deps, own);
    expect(await queuedFor(own, all)).toEqual([...everySlot, settled, settledNoCalls, prepaidInvoiced].sort());
  });

  it('a settled tenant syncs once in each hour: one of the twelve slots; a prepaid one whose calls are all invoiced too', async () => {
    const slots: Record<number, number[]> = { [settled]: [], [prepaidInvoiced]: [] };
    for (let phase = 0; phase < SLOTS; phase += 1) {
      const at = slotAt(phase);
      await fanOutCdrSync(bridge.worker!.deps, at);
      for (const serviceId of await queuedFor(at, [settled, prepaidInvoiced])) slots[serviceId]!.push(phase);
    }
    expect(slots).toEqual({ [settled]: [settled % SLOTS], [prepaidInvoiced]: [prepaidInvoiced % SLOTS] });
  });

  it('the drift report compares every service but the purged one', async () => {
    const { report } = await runDriftJob(bridge.worker!.deps, null);
    expect(report.services).toBe(all.length - 1);
  });

  it('a replay of the same slot adds each tenant once', async () => {
    const at = slotAt(5);
    await fanOutCdrSync(bridge.worker!.deps, at);
    await fanOutCdrSync(bridge.worker!.deps, at);
    const ids = (await queue().getJobs(['waiting'])).map((job) => job.id).sort();
    expect(ids).toEqual(
      [active, suspended, terminatedRecently, settled, settledNoCalls, terminatedUnbilled, syncedBeforeLastChange, prepaidInvoiced, prepaidUnbilled, neverSynced]
        .map((serviceId) => cdrSyncJobId(serviceId, slotOf(at)))
        .sort(),
    );
  });
});

describe('a purged tenant created again', () => {
  const serviceId = 7101;
  const domain = `t${serviceId}.pbx.example.net`;
  const later = () => new Date(Date.now() + (RETENTION_DAYS + 1) * 86400_000);

  async function send(action: string): Promise<void> {
    const event = buildEvent({ serviceId, action });
    if (action !== 'create') delete event.secrets;
    expect((await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' })).body.result).toBe('success');
  }

  async function insertCdr(direction: string): Promise<string> {
    const uuid = randomUUID();
    await bridge.fusion.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, destination_number, start_stamp, billsec)
       VALUES ($1, (SELECT domain_uuid FROM v_domains WHERE domain_name = $2), $2, $3, '12125550100', now() - interval '1 minute', 30)`,
      [uuid, domain, direction],
    );
    return uuid;
  }

  afterEach(async () => {
    await queue().drain();
  });

  it('leaves the fan-out when purged and comes back with its new create; its new calls are read from the new domain', async () => {
    await send('create');
    // An inbound call (not billed): the tenant's sync cursor now names the first domain.
    await insertCdr('inbound');
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    await send('terminate');
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    expect((await purgeTerminatedTenants(bridge.worker!.deps, later())).purged).toContain(serviceId);
    // A job queued before the purge reads nothing; the cursor of the deleted domain is gone.
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).status).toBe('no-tenant');
    expect(await getCdrSyncCursor(db(), serviceId)).toBeNull();

    for (let phase = 0; phase < SLOTS; phase += 1) {
      const at = slotAt(phase);
      await fanOutCdrSync(bridge.worker!.deps, at);
      expect(await queuedFor(at, [serviceId])).toEqual([]);
    }
    await queue().drain();

    await send('create');
    const at = slotAt((serviceId + 1) % SLOTS);
    await fanOutCdrSync(bridge.worker!.deps, at);
    expect(await queuedFor(at, [serviceId])).toEqual([serviceId]);

    const call = await insertCdr('outbound');
    const sync = await syncTenantCdrs(bridge.worker!.deps, serviceId);
    expect(sync.inserted).toBe(1);
    const { rows } = await db().query('SELECT service_id FROM cdr_charges WHERE xml_cdr_uuid = $1', [call]);
    expect(rows).toEqual([{ service_id: String(serviceId) }]);
  });
});

describe('a purged tenant created again whose old cursor survived the purge (a crash between the FusionPBX purge and the cursor delete)', () => {
  const later = () => new Date(Date.now() + (RETENTION_DAYS + 1) * 86400_000);
  const domainOf = (serviceId: number) => `t${serviceId}.pbx.example.net`;

  beforeAll(async () => {
    const deck = await importRateDeck(db(), 'standard', DECK_CSV, { currency: 'USD', numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } });
    expect(deck.ok).toBe(true);
  });

  async function send(serviceId: number, action: string): Promise<void> {
    // No included minutes: every outbound call has a price.
    const event = buildEvent({ serviceId, action, plan: { maxExtensions: 3, firstExtension: 100, rateDeck: 'standard', brand: 'default', includedMinutes: 0 } });
    if (action !== 'create') delete event.secrets;
    expect((await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' })).body.result).toBe('success');
  }

  async function domainUuidOf(serviceId: number): Promise<string> {
    const { rows } = await bridge.fusion.query<{ id: string }>('SELECT domain_uuid::text AS id FROM v_domains WHERE domain_name = $1', [domainOf(serviceId)]);
    expect(rows).toHaveLength(1);
    return rows[0]!.id;
  }

  async function insertCall(serviceId: number, minutesAgo: number, direction = 'outbound'): Promise<string> {
    const uuid = randomUUID();
    await bridge.fusion.query(
      `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, start_stamp, billsec, hangup_cause)
       VALUES ($1, $2, $3, $5, 'a', '12125550100', now() - make_interval(mins => $4), 30, 'NORMAL_CLEARING')`,
      [uuid, await domainUuidOf(serviceId), domainOf(serviceId), minutesAgo, direction],
    );
    return uuid;
  }

  async function chargesOf(serviceId: number): Promise<{ id: string; amount: string }[]> {
    const { rows } = await db().query<{ id: string; amount: string }>(
      `SELECT xml_cdr_uuid::text AS id, amount::text AS amount FROM cdr_charges WHERE service_id = $1 AND status = 'rated' ORDER BY start_stamp`,
      [serviceId],
    );
    return rows;
  }

  /** Creates, calls, terminates and purges the tenant, then puts its cursor back as a crash before the delete leaves it; the old domain's uuid. */
  async function purgedLeavingCursor(serviceId: number, cursorStamp?: string): Promise<string> {
    await send(serviceId, 'create');
    const oldDomain = await domainUuidOf(serviceId);
    // Inbound (not billed): nothing of the old domain holds the purge.
    await insertCall(serviceId, 2, 'inbound');
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    const { rows } = await db().query<{ row: unknown }>('SELECT to_jsonb(c) AS row FROM cdr_sync_cursors c WHERE service_id = $1', [serviceId]);
    expect(rows).toHaveLength(1);
    await send(serviceId, 'terminate');
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    expect((await purgeTerminatedTenants(bridge.worker!.deps, later())).purged).toContain(serviceId);
    await db().query('INSERT INTO cdr_sync_cursors SELECT * FROM jsonb_populate_record(NULL::cdr_sync_cursors, $1)', [rows[0]!.row]);
    if (cursorStamp) await db().query('UPDATE cdr_sync_cursors SET last_start_stamp = $2 WHERE service_id = $1', [serviceId, cursorStamp]);
    expect((await getCdrSyncCursor(db(), serviceId))?.domainUuid).toBe(oldDomain);
    await send(serviceId, 'create');
    expect(await domainUuidOf(serviceId)).not.toBe(oldDomain);
    return oldDomain;
  }

  afterEach(async () => {
    await queue().drain();
  });

  it('reads the new domain: its calls are charged once, a replay charges nothing, the next call is read from the moved cursor', async () => {
    const serviceId = 7201;
    await purgedLeavingCursor(serviceId);
    const call = await insertCall(serviceId, 1);

    const first = await syncTenantCdrs(bridge.worker!.deps, serviceId);
    expect(first).toMatchObject({ status: 'synced', inserted: 1, rated: 1 });
    const cursor = await getCdrSyncCursor(db(), serviceId);
    expect(cursor?.domainUuid).toBe(await domainUuidOf(serviceId));
    // The job run again (a replay) finds nothing new.
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(0);
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(0);

    const next = await insertCall(serviceId, 0);
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    const price = microToDecimal(expectedMicro('12125550100', 30));
    expect(await chargesOf(serviceId)).toEqual([call, next].map((id) => ({ id, amount: price })));
  });

  it('moves the cursor to the new domain even when the old one stood later than the new calls (a clock set back)', async () => {
    const serviceId = 7202;
    await purgedLeavingCursor(serviceId, new Date(Date.now() + 86400_000).toISOString());
    const call = await insertCall(serviceId, 1);
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    const cursor = await getCdrSyncCursor(db(), serviceId);
    expect(cursor?.domainUuid).toBe(await domainUuidOf(serviceId));
    expect(new Date(cursor!.lastStartStamp).getTime()).toBeLessThan(Date.now());

    // Later than `call` (the cursor stands there now), not later than the old cursor's stamp.
    const next = await insertCall(serviceId, 0);
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    expect((await chargesOf(serviceId)).map((charge) => charge.id)).toEqual([call, next]);
  });

  it('a terminated tenant whose domain is gone (not purged) still syncs its late calls by the uuid its cursor remembers', async () => {
    const serviceId = 7203;
    await send(serviceId, 'create');
    const domain = await domainUuidOf(serviceId);
    await insertCall(serviceId, 3);
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    await send(serviceId, 'terminate');
    const late = await insertCall(serviceId, 2);
    await bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [domain]);

    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(1);
    expect((await chargesOf(serviceId)).map((charge) => charge.id)).toContain(late);
    expect((await getCdrSyncCursor(db(), serviceId))?.domainUuid).toBe(domain);
    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).inserted).toBe(0);
  });
});

describe("a terminated tenant's settled test counts from its termination, not the row's last write", () => {
  const serviceId = 7313; // 7313 % 12 = 5: its settled slot

  async function send(action: string): Promise<void> {
    const event = buildEvent({ serviceId, action });
    if (action !== 'create') delete event.secrets;
    expect((await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' })).body.result).toBe('success');
  }

  afterEach(async () => {
    await queue().drain();
  });

  it('a tenant terminated two days ago whose row was written just now (its observed state) syncs in its own slot only', async () => {
    await send('create');
    await send('terminate');
    // Terminated two days ago (its final bill long due): the row's times moved back together, as the other tests do.
    await db().query(`UPDATE services SET terminated_at = terminated_at - interval '2 days', updated_at = updated_at - interval '2 days' WHERE service_id = $1`, [serviceId]);
    // A write now: the observed state recorded again (a FreeSWITCH backlog cleared writes the row the same way).
    await bridge.worker!.deps.services.recordObserved(serviceId, { state: 'terminated' });
    const { rows } = await db().query(`SELECT updated_at > now() - interval '1 minute' AS written_now FROM services WHERE service_id = $1`, [serviceId]);
    expect(rows).toEqual([{ written_now: true }]);
    // Synced since that write (until then it is not settled: every slot syncs it).
    await syncTenantCdrs(bridge.worker!.deps, serviceId);

    const elsewhere = slotAt(2);
    await fanOutCdrSync(bridge.worker!.deps, elsewhere);
    expect(await queuedFor(elsewhere, [serviceId])).toEqual([]);
    const own = slotAt(serviceId % SLOTS);
    await fanOutCdrSync(bridge.worker!.deps, own);
    expect(await queuedFor(own, [serviceId])).toEqual([serviceId]);
  });
});
