import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { loadConfig } from '@ictvoip/config';
import { createPrepaidInvoice, getCdrSyncCursor, insertAdjustment, settleCreditLeft, withBillingLock } from '@ictvoip/store';
import { buildEvent, createTestDatabase, deleteRedisPrefix, loadFusionpbxSchema, postWebhook, seedFusionpbxBasics, uniqueQueuePrefix } from '@ictvoip/testkit';
import { startWorker, type RunningWorker } from '../src';
import { scopeForService } from '../src/fusion-scope';
import { purgeTerminatedTenants, type PurgeOutcome } from '../src/jobs/maintenance/purge-terminated';
import { syncTenantCdrs } from '../src/jobs/cdr/sync-tenant';
import { startBridge, TEMPLATE_DOMAIN, type Bridge } from './harness';

let bridge: Bridge;
const RETENTION_DAYS = 30;
const later = () => new Date(Date.now() + (RETENTION_DAYS + 1) * 86400_000);

async function startPurgeBridge(): Promise<Bridge> {
  const started = await startBridge({ TERMINATE_RETENTION_DAYS: String(RETENTION_DAYS) });
  await started.startApi();
  await started.startWorker({ schedulers: false });
  return started;
}

beforeAll(async () => {
  bridge = await startPurgeBridge();
});
afterAll(async () => {
  await bridge.close();
});

const fusionCount = async (sql: string, params: unknown[]) => (await bridge.fusion.query<{ n: number }>(sql, params)).rows[0].n;

/**
 * A tenant created and terminated, then (unless `synced: false`) synced once as the fan-out does after a
 * termination, with no call to read: the purge waits for a sync since the termination, and one that
 * read nothing counts.
 */
async function createAndTerminate(serviceId: number, on = bridge, options: { synced?: boolean } = {}): Promise<string> {
  const create = buildEvent({ serviceId });
  expect((await postWebhook(on.url, JSON.stringify(create), { query: '?wait=20' })).body.result).toBe('success');
  const terminate = buildEvent({ serviceId, action: 'terminate' });
  delete terminate.secrets;
  expect((await postWebhook(on.url, JSON.stringify(terminate), { query: '?wait=20' })).body.result).toBe('success');
  if (options.synced !== false) expect((await syncTenantCdrs(on.worker!.deps, serviceId)).status).toBe('synced');
  return `t${serviceId}.pbx.example.net`;
}

async function insertCdr(domain: string): Promise<string> {
  const uuid = randomUUID();
  await bridge.fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, start_stamp, billsec)
     VALUES ($1, (SELECT domain_uuid FROM v_domains WHERE domain_name = $2), $2, 'outbound', now(), 30)`,
    [uuid, domain],
  );
  return uuid;
}

describe('purging terminated tenants after the retention period', () => {
  it('keeps a tenant inside its retention period', async () => {
    const domain = await createAndTerminate(6101);
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, new Date());
    expect(outcome.purged).not.toContain(6101);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toBe(1);
  });

  it('waits while calls of the tenant are not billed, then purges everything but the CDRs', async () => {
    const serviceId = 6102;
    const domain = await createAndTerminate(serviceId);
    const cdr = await insertCdr(domain);
    await bridge.api!.deps.pool.query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    await bridge.api!.deps.pool.query(
      `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, status, period)
       VALUES ($1, $2, $3, now(), 'outbound', 30, '0.120000', 'rated', to_char(now(), 'YYYY-MM'))`,
      [cdr, serviceId, domain],
    );
    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(held.waiting).toContainEqual({ serviceId, reason: '1 rated calls not billed yet' });
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toBe(1);

    // Billed (on an invoice), not deleted: a charge deleted with its CDR still in FusionPBX would be an uncollected call.
    await invoicePrepaid(serviceId, '2026-01-01');
    const done = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(done.purged).toContain(serviceId);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toBe(0);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_extensions WHERE accountcode = $1', [domain])).toBe(0);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_xml_cdr WHERE xml_cdr_uuid = $1', [cdr])).toBe(1);
    const [service] = (await bridge.api!.deps.pool.query('SELECT observed_state FROM services WHERE service_id = $1', [serviceId])).rows;
    expect(service.observed_state).toBe('purged');

    const again = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(again.purged).not.toContain(serviceId);
  });

  it('never purges an active or suspended tenant', async () => {
    const serviceId = 6103;
    const create = buildEvent({ serviceId });
    expect((await postWebhook(bridge.url, JSON.stringify(create), { query: '?wait=20' })).body.result).toBe('success');
    await bridge.api!.deps.pool.query(`UPDATE services SET updated_at = now() - interval '400 days' WHERE service_id = $1`, [serviceId]);
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.purged).not.toContain(serviceId);
    expect(await fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [`t${serviceId}.pbx.example.net`])).toBe(1);
  });
});

const db = () => bridge.api!.deps.pool;

async function insertRatedCharge(serviceId: number, domain: string): Promise<string> {
  const cdr = await insertCdr(domain);
  await db().query(
    `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, status, period)
     VALUES ($1, $2, $3, now(), 'outbound', 30, '0.120000', 'rated', to_char(now(), 'YYYY-MM'))`,
    [cdr, serviceId, domain],
  );
  return cdr;
}

/** The prepaid invoicing job's own first step: the unbilled calls put on a prepaid invoice (not yet sent to WHMCS). */
async function invoicePrepaid(serviceId: number, day: string): Promise<void> {
  const client = await db().connect();
  try {
    expect(await createPrepaidInvoice(client, { serviceId, clientId: 1, day })).not.toBeNull();
  } finally {
    client.release();
  }
}

const domainCount = (domain: string) => fusionCount('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain]);
const observedState = async (serviceId: number) => (await db().query('SELECT observed_state FROM services WHERE service_id = $1', [serviceId])).rows[0].observed_state;

describe('a terminated prepaid tenant', () => {
  it('is purged after retention once its calls are on a prepaid invoice, even one not yet paid', async () => {
    const serviceId = 6111;
    const domain = await createAndTerminate(serviceId);
    await insertRatedCharge(serviceId, domain);
    await invoicePrepaid(serviceId, '2026-01-01');
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);

    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.waiting.filter((held) => held.serviceId === serviceId)).toEqual([]);
    expect(outcome.purged).toContain(serviceId);
    expect(await domainCount(domain)).toBe(0);
  });

  it('is held while a rated call is on no invoice', async () => {
    const serviceId = 6112;
    const domain = await createAndTerminate(serviceId);
    await insertRatedCharge(serviceId, domain);
    await invoicePrepaid(serviceId, '2026-01-01');
    await insertRatedCharge(serviceId, domain);
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);

    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.waiting).toContainEqual({ serviceId, reason: '1 rated calls not billed yet' });
    expect(outcome.purged).not.toContain(serviceId);
    expect(await domainCount(domain)).toBe(1);
  });
});

describe('a terminated tenant left with a credit', () => {
  it('is held naming the credit and the command; once the credit is recorded settled it is purged as any other', async () => {
    const serviceId = 6191;
    const domain = await createAndTerminate(serviceId);
    await insertAdjustment(db(), { adjustmentId: `m-${serviceId}`, serviceId, kind: 'manual', amount: '-3.250000', currency: 'USD', sourcePeriod: null, description: 'goodwill' });
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);

    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(reasonsOf(held, [serviceId])).toEqual([`credit -3.250000 USD left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}\``]);
    expect(await domainCount(domain)).toBe(1);

    const settled = await withBillingLock(db(), serviceId, (client) => settleCreditLeft(client, serviceId, { note: 'refunded', actor: 'test' }));
    expect(settled).toMatchObject({ settled: true, settlement: { credit: '-3.250000' } });
    const done = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(reasonsOf(done, [serviceId])).toEqual([]);
    expect(done.purged).toContain(serviceId);
    expect(await domainCount(domain)).toBe(0);
  });
});

describe('a terminated tenant left with a credit and a zero pair in another currency', () => {
  it("names the credit's currency, not the other's (a released prepaid invoice's remainder pair stays pending, net nothing)", async () => {
    const serviceId = 6192;
    await createAndTerminate(serviceId);
    const adjust = (adjustmentId: string, amount: string, currency: string) =>
      insertAdjustment(db(), { adjustmentId, serviceId, kind: 'manual', amount, currency, sourcePeriod: null, description: 'test' });
    await adjust(`m-${serviceId}`, '-3.250000', 'EUR');
    await adjust(`r-${serviceId}`, '0.004000', 'USD');
    await adjust(`x-${serviceId}`, '-0.004000', 'USD');
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);

    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    // Before: "credit -3.250000 USD left" (max(currency) of every pending adjustment).
    expect(reasonsOf(held, [serviceId])).toEqual([`credit -3.250000 EUR left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}\``]);
  });
});

describe('a terminated tenant left with a credit in one currency and a debt of the same amount in another', () => {
  it('is held for the credit, named in its currency (the sum across currencies, zero, let it be purged)', async () => {
    const serviceId = 6193;
    await createAndTerminate(serviceId);
    const adjust = (adjustmentId: string, amount: string, currency: string) =>
      insertAdjustment(db(), { adjustmentId, serviceId, kind: 'manual', amount, currency, sourcePeriod: null, description: 'test' });
    await adjust(`m-${serviceId}`, '-5.000000', 'EUR');
    await adjust(`u-${serviceId}`, '5.000000', 'USD');
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);

    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(held.purged).not.toContain(serviceId);
    expect(reasonsOf(held, [serviceId])).toEqual([`credit -5.000000 EUR left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}\``]);
  });
});

describe('a purge cut short after its FusionPBX delete committed', () => {
  it('is finished by the next run: marked purged, cursor dropped, audited; a further run changes nothing', async () => {
    const serviceId = 6121;
    const domain = await createAndTerminate(serviceId, bridge, { synced: false });
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    await db().query(
      `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
       VALUES ($1, $4, $2, now() - interval '1 day', $3, now())`,
      [serviceId, domain, randomUUID(), randomUUID()],
    );
    // The crash: the provisioner's purge committed, the worker died before recording it.
    const service = (await bridge.worker!.deps.services.get(serviceId))!;
    const scoped = await scopeForService(bridge.worker!.deps, service);
    expect(await scoped.fusion.provisioner.purgeTenant(serviceId, { retentionDays: RETENTION_DAYS, now: later() })).toMatchObject({ purged: true });
    expect(await observedState(serviceId)).toBe('terminated');

    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.waiting.filter((held) => held.serviceId === serviceId)).toEqual([]);
    expect(outcome.purged).toContain(serviceId);
    expect(await observedState(serviceId)).toBe('purged');
    expect(await getCdrSyncCursor(db(), serviceId)).toBeNull();
    const audits = async () => (await db().query(`SELECT detail FROM audit_log WHERE action = 'purge' AND service_id = $1`, [serviceId])).rows;
    expect(await audits()).toEqual([{ detail: { domain, deleted: {}, fusionRowsAlreadyGone: true } }]);

    const again = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(again.purged).not.toContain(serviceId);
    expect(again.waiting.filter((held) => held.serviceId === serviceId)).toEqual([]);
    expect(await observedState(serviceId)).toBe('purged');
    expect(await audits()).toHaveLength(1);
  });
});

/** A worker of the same bridge whose FUSIONPBX_DATABASE_URL names another FusionPBX database (schema and template domain only). */
async function withWrongFusionDatabase(on: Bridge, work: (worker: RunningWorker) => Promise<void>): Promise<void> {
  const wrongDb = await createTestDatabase('fusion_wrong');
  const prefix = uniqueQueuePrefix('wrong');
  let worker: RunningWorker | null = null;
  try {
    await loadFusionpbxSchema(wrongDb.url);
    const seed = new Pool({ connectionString: wrongDb.url, max: 1 });
    await seedFusionpbxBasics(seed, TEMPLATE_DOMAIN).finally(() => seed.end());
    worker = await startWorker(loadConfig({ ...on.env, FUSIONPBX_DATABASE_URL: wrongDb.url, QUEUE_PREFIX: prefix }), on.logger, { schedulers: false });
    await work(worker);
  } finally {
    await worker?.close();
    await deleteRedisPrefix(prefix);
    await wrongDb.drop();
  }
}

const purgeAudits = async (on: Bridge, serviceId: number) =>
  (await on.worker!.deps.pool.query(`SELECT detail FROM audit_log WHERE action = 'purge' AND service_id = $1`, [serviceId])).rows;
const stateOf = async (on: Bridge, serviceId: number) =>
  (await on.worker!.deps.pool.query('SELECT observed_state FROM services WHERE service_id = $1', [serviceId])).rows[0].observed_state;
const distrustLines = (on: Bridge) => on.logLines.filter((line) => line.includes('not trusted to say the tenant is gone'));
const reasonsOf = (outcome: PurgeOutcome, ids: readonly number[]) => outcome.waiting.filter((held) => ids.includes(held.serviceId)).map((held) => held.reason);

async function addCursor(on: Bridge, serviceId: number, domain: string): Promise<void> {
  await on.worker!.deps.pool.query(
    `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
     VALUES ($1, $4, $2, now() - interval '1 day', $3, now())`,
    [serviceId, domain, randomUUID(), randomUUID()],
  );
}

describe('a FUSIONPBX_DATABASE_URL naming the wrong database', () => {
  it('finishes no purge there (tenants wait, one warning); back on the right database the purge deletes their rows; a replay changes nothing', async () => {
    const ids = [6131, 6132];
    const domains = [];
    for (const serviceId of ids) {
      domains.push(await createAndTerminate(serviceId, bridge, { synced: false }));
      await addCursor(bridge, serviceId, domains[domains.length - 1]);
    }
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = ANY($1)`, [ids]);

    await withWrongFusionDatabase(bridge, async (wrong) => {
      for (let run = 0; run < 2; run++) {
        const linesBefore = distrustLines(bridge).length;
        const outcome = await purgeTerminatedTenants(wrong.deps, later());
        expect(outcome.purged.filter((id) => ids.includes(id))).toEqual([]);
        expect(reasonsOf(outcome, ids)).toEqual(ids.map(() => expect.stringMatching(/^FusionPBX database of server default holds none of its \d+ live tenants/)));
        expect(distrustLines(bridge).length - linesBefore).toBe(1);
        for (const serviceId of ids) {
          expect(await stateOf(bridge, serviceId)).toBe('terminated');
          expect(await purgeAudits(bridge, serviceId)).toEqual([]);
          expect(await getCdrSyncCursor(db(), serviceId)).not.toBeNull();
        }
      }
      expect(distrustLines(bridge).join('\n')).not.toContain('postgres://');
    });
    for (const domain of domains) expect(await domainCount(domain)).toBe(1);

    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.purged).toEqual(expect.arrayContaining(ids));
    for (const [index, serviceId] of ids.entries()) {
      expect(await domainCount(domains[index])).toBe(0);
      expect(await stateOf(bridge, serviceId)).toBe('purged');
      expect(await purgeAudits(bridge, serviceId)).toEqual([{ detail: expect.objectContaining({ domain: domains[index], deleted: expect.objectContaining({ v_domains: 1 }) }) }]);
      expect(await getCdrSyncCursor(db(), serviceId)).toBeNull();
    }

    const again = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(again.purged.filter((id) => ids.includes(id))).toEqual([]);
    expect(reasonsOf(again, ids)).toEqual([]);
    for (const serviceId of ids) expect(await purgeAudits(bridge, serviceId)).toHaveLength(1);
  });
});

describe('a server with no live tenant left', () => {
  let lone: Bridge;
  beforeAll(async () => {
    lone = await startPurgeBridge();
  });
  afterAll(async () => {
    await lone.close();
  });

  async function terminatedTenant(serviceId: number): Promise<string> {
    const domain = await createAndTerminate(serviceId, lone);
    await lone.worker!.deps.pool.query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    return domain;
  }

  it('trusts "already gone" from a database holding another terminated tenant of the server, and from no other', async () => {
    const gone = 6141;
    const kept = 6142;
    await terminatedTenant(gone);
    const keptDomain = await terminatedTenant(kept);
    // The domain deleted by hand: the provisioner's own purge, the bridge not told.
    const scoped = await scopeForService(lone.worker!.deps, (await lone.worker!.deps.services.get(gone))!);
    expect(await scoped.fusion.provisioner.purgeTenant(gone, { retentionDays: RETENTION_DAYS, now: later() })).toMatchObject({ purged: true });

    await withWrongFusionDatabase(lone, async (wrong) => {
      const outcome = await purgeTerminatedTenants(wrong.deps, later());
      expect(outcome.purged).toEqual([]);
      expect(reasonsOf(outcome, [gone, kept])).toEqual(
        [gone, kept].map(() => expect.stringMatching(/^FusionPBX database of server default holds no tenant the bridge knows there/)),
      );
    });
    expect(await stateOf(lone, gone)).toBe('terminated');

    const outcome = await purgeTerminatedTenants(lone.worker!.deps, later());
    expect(outcome.purged).toEqual([gone, kept]);
    expect(await purgeAudits(lone, gone)).toEqual([{ detail: { domain: `t${gone}.pbx.example.net`, deleted: {}, fusionRowsAlreadyGone: true } }]);
    expect((await lone.fusion.query('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [keptDomain])).rows[0].n).toBe(0);
  });

  it('keeps a lone terminated tenant whose domain is gone waiting: nothing is left to vouch for the database', async () => {
    const serviceId = 6143;
    await terminatedTenant(serviceId);
    const scoped = await scopeForService(lone.worker!.deps, (await lone.worker!.deps.services.get(serviceId))!);
    expect(await scoped.fusion.provisioner.purgeTenant(serviceId, { retentionDays: RETENTION_DAYS, now: later() })).toMatchObject({ purged: true });

    const outcome = await purgeTerminatedTenants(lone.worker!.deps, later());
    expect(reasonsOf(outcome, [serviceId])).toEqual([expect.stringMatching(/holds no tenant the bridge knows there/)]);
    expect(await stateOf(lone, serviceId)).toBe('terminated');
  });
});

/** Waits (on the database's clock, which stamps the rows) until `ms` milliseconds have passed since `since`. */
async function untilDatabaseClockPast(since: Date, ms: number): Promise<void> {
  for (let polls = 0; polls < 10_000; polls++) {
    const { rows } = await db().query<{ past: boolean }>(`SELECT clock_timestamp() > $1::timestamptz + make_interval(secs => $2) AS past`, [since, ms / 1000]);
    if (rows[0]!.past) return;
  }
  throw new Error('database clock did not move');
}

describe("the retention counts from the termination, not the row's last write", () => {
  it('a tenant whose row is written after its termination (its observed state) is purged once the retention since its termination has passed', async () => {
    const serviceId = 6151;
    const domain = await createAndTerminate(serviceId);
    const termination = async () =>
      (
        await db().query<{ terminated_ms: string; terminated_at: Date; written_later: boolean }>(
          `SELECT floor(extract(epoch FROM terminated_at) * 1000)::bigint::text AS terminated_ms, terminated_at,
             updated_at > terminated_at + interval '2 milliseconds' AS written_later
           FROM services WHERE service_id = $1`,
          [serviceId],
        )
      ).rows[0]!;
    const { terminated_at: terminatedAt } = await termination();
    await untilDatabaseClockPast(terminatedAt, 5);
    // A later write to the row: the observed state recorded again (a FreeSWITCH backlog cleared writes it the same way).
    await bridge.worker!.deps.services.recordObserved(serviceId, { state: 'terminated' });
    // The sync after that write (the fan-out makes it at once: the tenant is not settled until then).
    await syncTenantCdrs(bridge.worker!.deps, serviceId);
    const { terminated_ms: terminatedMs, written_later: writtenLater } = await termination();
    expect(writtenLater).toBe(true);

    // Just before the retention since the termination: not due (the FusionPBX side would refuse it too).
    const early = await purgeTerminatedTenants(bridge.worker!.deps, new Date(Number(terminatedMs) - 1 + RETENTION_DAYS * 86400_000));
    expect(early.purged).not.toContain(serviceId);
    expect(reasonsOf(early, [serviceId])).toEqual([]);
    expect(await domainCount(domain)).toBe(1);

    // The first millisecond past it: the last write is still younger than the retention, the tenant is purged all the same.
    const due = await purgeTerminatedTenants(bridge.worker!.deps, new Date(Number(terminatedMs) + 1 + RETENTION_DAYS * 86400_000));
    expect(reasonsOf(due, [serviceId])).toEqual([]);
    expect(due.purged).toContain(serviceId);
    expect(await domainCount(domain)).toBe(0);
    expect(await observedState(serviceId)).toBe('purged');
  });
});

describe('a terminated tenant the CDR sync never read', () => {
  it('keeps its domain while a call of it is not collected, and is purged once a sync charged that call', async () => {
    const serviceId = 6171;
    // Created and terminated between two syncs, with a call made meanwhile: no sync cursor exists.
    const domain = await createAndTerminate(serviceId, bridge, { synced: false });
    const cdr = await insertCdr(domain);
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    expect(await getCdrSyncCursor(db(), serviceId)).toBeNull();

    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(held.waiting).toContainEqual({ serviceId, reason: 'CDRs not synced since the termination' });
    expect(held.purged).not.toContain(serviceId);
    expect(await domainCount(domain)).toBe(1);

    expect((await syncTenantCdrs(bridge.worker!.deps, serviceId)).status).toBe('synced');
    const charged = await db().query<{ status: string }>('SELECT status FROM cdr_charges WHERE xml_cdr_uuid = $1', [cdr]);
    expect(charged.rows).toHaveLength(1);
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.waiting.filter((entry) => entry.serviceId === serviceId)).toEqual([]);
    expect(outcome.purged).toContain(serviceId);
    expect(await domainCount(domain)).toBe(0);
  });

  it('waits for one sync when it never made a call, and is purged after it', async () => {
    const serviceId = 6172;
    const domain = await createAndTerminate(serviceId, bridge, { synced: false });
    await db().query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    // No cursor is "never synced": whether it made a call is the sync's to find out.
    const held = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(reasonsOf(held, [serviceId])).toEqual(['CDRs not synced since the termination']);
    expect(await domainCount(domain)).toBe(1);

    expect(await syncTenantCdrs(bridge.worker!.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 0 });
    const outcome = await purgeTerminatedTenants(bridge.worker!.deps, later());
    expect(outcome.purged).toContain(serviceId);
    expect(await domainCount(domain)).toBe(0);
  });
});
