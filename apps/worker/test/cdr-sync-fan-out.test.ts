import { randomUUID } from 'node:crypto';
import type { Worker } from 'bullmq';
import { cdrSyncJobId, QUEUE_NAMES } from '@ictvoip/queue';
import { getCdrSyncCursor } from '@ictvoip/store';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { fanOutCdrSync, syncTenantCdrs } from '../src';
import { runDriftJob } from '../src/jobs/maintenance/drift-job';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';
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

describe('the CDR sync fan-out', () => {
  // Ids whose settled slot (id % 12) is 5, so any other phase is not theirs.
  const active = 7001;
  const suspended = 7002;
  const purged = 7003;
  const terminatedRecently = 7004;
  const settled = 7013; // 7013 % 12 = 5
  const settledNeverSynced = 7025; // 7025 % 12 = 5: terminated, no calls ever (no cursor)
  const terminatedUnbilled = 7037; // settled but for a late call not billed yet
  const syncedBeforeLastChange = 7049; // its last sync was before the service's last change
  const noDomain = 7050;
  const all = [active, suspended, purged, terminatedRecently, settled, settledNeverSynced, terminatedUnbilled, syncedBeforeLastChange, noDomain];

  beforeAll(async () => {
    await seedService(active, 'active', 'active');
    await seedService(suspended, 'suspended', 'suspended');
    await seedService(purged, 'terminated', 'purged', { terminatedDaysAgo: 40 });
    await seedCursor(purged, 24 * 35);
    await seedService(terminatedRecently, 'terminated', 'terminated');
    await seedService(settled, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedCursor(settled, 1);
    await seedService(settledNeverSynced, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedService(terminatedUnbilled, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedCursor(terminatedUnbilled, 1);
    await seedUnbilledCharge(terminatedUnbilled);
    await seedService(syncedBeforeLastChange, 'terminated', 'terminated', { terminatedDaysAgo: 2 });
    await seedCursor(syncedBeforeLastChange, 24 * 3);
    await seedService(noDomain, 'active', null, { domain: null });
  });
  afterEach(async () => {
    await queue().drain();
  });

  it('syncs live, suspended and recently terminated tenants every slot, never a purged one, a settled terminated one in its slot of the hour', async () => {
    const elsewhere = slotAt(2);
    const outcome = await fanOutCdrSync(bridge.worker!.deps, elsewhere);
    const everySlot = [active, suspended, terminatedRecently, terminatedUnbilled, syncedBeforeLastChange];
    expect(await queuedFor(elsewhere, all)).toEqual(everySlot);
    expect(outcome.enqueued).toBe(everySlot.length);

    const own = slotAt(5);
    await fanOutCdrSync(bridge.worker!.deps, own);
    expect(await queuedFor(own, all)).toEqual([...everySlot, settled, settledNeverSynced].sort());
  });

  it('a settled tenant syncs once in each hour: one of the twelve slots', async () => {
    const slots: number[] = [];
    for (let phase = 0; phase < SLOTS; phase += 1) {
      const at = slotAt(phase);
      await fanOutCdrSync(bridge.worker!.deps, at);
      if ((await queuedFor(at, [settled])).length > 0) slots.push(phase);
    }
    expect(slots).toEqual([settled % SLOTS]);
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
      [active, suspended, terminatedRecently, settled, settledNeverSynced, terminatedUnbilled, syncedBeforeLastChange]
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
