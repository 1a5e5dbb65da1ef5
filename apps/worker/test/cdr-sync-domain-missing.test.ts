import { Pool } from 'pg';
import { loadConfig } from '@ictvoip/config';
import { addJob, CDR_JOBS } from '@ictvoip/queue';
import { createFusionpbxTestDatabase, deleteRedisPrefix, seedFusionpbxBasics, uniqueQueuePrefix } from '@ictvoip/testkit';
import { getCdrSyncCursor, insertAdjustment, periodOf, recordCreditsLeft, settleCreditLeft, withBillingLock, type SettleOutcome } from '@ictvoip/store';
import { pushBillingBatch, startWorker, syncTenantCdrs, type RunningWorker } from '../src';
import type { CdrSyncOutcome } from '../src/jobs/cdr';
import { purgeTerminatedTenants } from '../src/jobs/maintenance/purge-terminated';
import { scopeForService } from '../src/fusion-scope';
import { sendWebhook, startApi, tenantThroughWebhook, useBillingKit, webhookEvent, type Tenant } from './cdr-billing-kit';
import { TEMPLATE_DOMAIN, waitFor } from './harness';

// A tenant the bridge provisioned whose domain its server's database does not have: a wrong
// FUSIONPBX_DATABASE_URL, or the domain deleted by hand while its calls are still in v_xml_cdr. The
// sync cannot read its calls, so it must not count as a sync: a terminated tenant's credit is not
// final (credit-left report, `billing settle`, purge) until a sync reads them.
const kit = useBillingKit({ WHMCS_API_TIMEOUT_MS: '10000', TERMINATE_RETENTION_DAYS: '30' }, { setUp: startApi });

const MISSING_WARNING = "CDR sync: the tenant's domain is missing from its FusionPBX server's database";

/** A worker of the same bridge whose FUSIONPBX_DATABASE_URL names another FusionPBX database (schema and template domain only). */
async function withWrongFusionDatabase(work: (worker: RunningWorker, wrongUrl: string) => Promise<void>): Promise<void> {
  const wrongDb = await createFusionpbxTestDatabase('fusion_wrong');
  const prefix = uniqueQueuePrefix('wrong');
  let worker: RunningWorker | null = null;
  try {
    const seed = new Pool({ connectionString: wrongDb.url, max: 1 });
    await seedFusionpbxBasics(seed, TEMPLATE_DOMAIN).finally(() => seed.end());
    worker = await startWorker(loadConfig({ ...kit.bridge.env, FUSIONPBX_DATABASE_URL: wrongDb.url, QUEUE_PREFIX: prefix }), kit.bridge.logger, { schedulers: false });
    await work(worker, wrongDb.url);
  } finally {
    await worker?.close();
    await deleteRedisPrefix(prefix);
    await wrongDb.drop();
  }
}

/** A manual credit (a negative adjustment) on the service, in USD. */
const goodwill = (serviceId: number, amount: string) =>
  insertAdjustment(kit.deps.pool, { adjustmentId: `m-${serviceId}`, serviceId, kind: 'manual', amount, currency: 'USD', sourcePeriod: null, description: 'goodwill' });

/** The domain deleted behind the bridge's back: the provisioner's own purge (it keeps v_xml_cdr), the bridge not told. */
async function purgeBehindTheBridge(serviceId: number): Promise<void> {
  const scoped = await scopeForService(kit.deps, (await kit.deps.services.get(serviceId))!);
  expect(await scoped.fusion.provisioner.purgeTenant(serviceId, { retentionDays: 30, now: new Date(Date.now() + 31 * 86400_000) })).toMatchObject({ purged: true });
}

/** The README's way out: the domain row back with the uuid its calls (or its sync cursor) carry. */
const restoreDomain = (tenant: Tenant) =>
  kit.bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [tenant.domainUuid, tenant.domainName]);

/** Back on the right database: the call read and rated, its bill (all paid by the credit) pushed, the rest of the credit settled. */
async function readBillAndSettle(serviceId: number, start: Date): Promise<void> {
  expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1, rated: 1 });
  expect(await creditViews(serviceId)).toMatchObject({ reported: [], settle: { refused: 'CREDIT_NOT_FINAL' }, purgeHolds: ['1 rated calls not billed yet'] });
  expect(await pushBillingBatch(kit.deps, serviceId, periodOf(start, 'UTC'))).toMatchObject({ outcome: 'zero' });
  expect(await settle(serviceId)).toMatchObject({ settled: true, settlement: { credit: '-4.790000' } });
}

/** A tenant created and terminated through the webhook (the real provisioner), with a 5.00 credit and, unless told not to, a call no sync has read. */
async function provisionedTerminated(serviceId: number, withCall = true): Promise<{ tenant: Tenant; start: Date }> {
  const { client, tenant } = await tenantThroughWebhook(kit, serviceId);
  await goodwill(serviceId, '-5.000000');
  const start = new Date(Date.now() - 60_000);
  // 10 min to Germany at 0.021: 0.21, which the credit pays before any of it is refunded.
  if (withCall) await kit.insertCdr(tenant, { start: start.toISOString(), billsec: 600, destination: '0114930123456' });
  expect((await sendWebhook(kit, webhookEvent(serviceId, client.id, 'terminate'))).body.result).toBe('success');
  expect(await kit.deps.services.get(serviceId)).toMatchObject({ desiredState: 'terminated', observedState: 'terminated', tenantDomain: tenant.domainName });
  expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toBeNull();
  return { tenant, start };
}

const settle = (serviceId: number): Promise<SettleOutcome | { refused: string | undefined }> =>
  withBillingLock(kit.deps.pool, serviceId, (db) => settleCreditLeft(db, serviceId, { note: 'refunded', actor: 'test' })).catch((error: unknown) => ({
    refused: (error as { code?: string }).code,
  }));

/** What the credit-left report, `billing settle` and the purge make of the tenant's credit now. */
async function creditViews(serviceId: number) {
  const purge = await purgeTerminatedTenants(kit.deps, new Date(Date.now() + 31 * 86400_000));
  return {
    reported: await recordCreditsLeft(kit.deps.pool, { serviceId }),
    settle: await settle(serviceId),
    purgeHolds: purge.waiting.filter((held) => held.serviceId === serviceId).map((held) => held.reason),
  };
}

const NOT_FINAL = { reported: [], settle: { refused: 'CREDIT_NOT_FINAL' }, purgeHolds: ['CDRs not synced since the termination'] };

/** The cdr.sync-tenant job run by `on` as the worker runs it: its result. */
async function syncJob(on: RunningWorker, serviceId: number, tag: string): Promise<CdrSyncOutcome> {
  const job = await addJob(on.deps.queues, CDR_JOBS.syncTenant, { serviceId }, { jobId: `cdr-sync-${serviceId}-${tag}` });
  return waitFor(
    async () => {
      const state = await job.getState();
      if (state === 'failed') throw new Error(`sync failed: ${(await on.deps.queues['cdr-sync'].getJob(job.id!))?.failedReason}`);
      return state === 'completed' ? ((await on.deps.queues['cdr-sync'].getJob(job.id!))?.returnvalue as CdrSyncOutcome) : null;
    },
    20000,
    'the CDR sync job',
  );
}

const domainMissingCount = async (on: RunningWorker) => (await on.metrics.cdrSyncDomainMissing.get()).values.find((value) => value.labels.server === 'default')?.value ?? 0;

describe('a provisioned tenant whose domain the sync does not find', () => {
  test('wrong FusionPBX database: domain-missing, no run recorded, the credit not final; on the right database the call is read, billed, and the credit settled', async () => {
    const serviceId = 7301;
    const { start } = await provisionedTerminated(serviceId);
    await withWrongFusionDatabase(async (wrong) => {
      const logsBefore = kit.bridge.logLines.length;
      expect(await syncJob(wrong, serviceId, 'wrong-db')).toMatchObject({ serviceId, status: 'domain-missing', pages: 0, read: 0, inserted: 0 });
      expect(await domainMissingCount(wrong)).toBe(1);
      expect(await syncTenantCdrs(wrong.deps, serviceId)).toMatchObject({ status: 'domain-missing', read: 0 });
      expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toBeNull();
      // Two syncs, one warning (at most one an hour per tenant: DOMAIN_MISSING_WARNING_EVERY_MS).
      const warnings = kit.bridge.logLines.slice(logsBefore).filter((line) => line.includes(MISSING_WARNING));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ serviceId, server: 'default', domain: `t${serviceId}.pbx.example.net` });
      // The database URL (its password) is no part of it.
      expect(warnings[0]).not.toContain('postgres://');
      expect(await creditViews(serviceId)).toEqual(NOT_FINAL);
    });

    await readBillAndSettle(serviceId, start);
  }, 60000);

  test('fan-out syncs in a row: one warning, every one counted; the domain found again logs it once (info), and a new loss warns again at once', async () => {
    const serviceId = 7306;
    const { tenant } = await tenantThroughWebhook(kit, serviceId);
    await withWrongFusionDatabase(async (wrong, wrongUrl) => {
      const wrongDb = new Pool({ connectionString: wrongUrl, max: 1 });
      const logsBefore = kit.bridge.logLines.length;
      const logged = (text: string) => kit.bridge.logLines.slice(logsBefore).filter((line) => line.includes(text));
      for (const tag of ['one', 'two', 'three']) expect(await syncJob(wrong, serviceId, tag)).toMatchObject({ status: 'domain-missing' });
      expect(await domainMissingCount(wrong)).toBe(3);
      expect(logged(MISSING_WARNING)).toHaveLength(1);
      // The domain row on this database (as restoring it would): read, and said once.
      await wrongDb.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [tenant.domainUuid, tenant.domainName]);
      for (const tag of ['four', 'five']) expect(await syncJob(wrong, serviceId, tag)).toMatchObject({ status: 'synced' });
      expect(logged("CDR sync: the tenant's domain found again")).toHaveLength(1);
      expect(JSON.parse(logged("CDR sync: the tenant's domain found again")[0]!)).toMatchObject({ serviceId, server: 'default', domain: tenant.domainName });
      // Lost again: warned at once, not an hour after the first warning.
      await wrongDb.query('DELETE FROM v_domains WHERE domain_uuid = $1', [tenant.domainUuid]);
      expect(await syncJob(wrong, serviceId, 'six')).toMatchObject({ status: 'domain-missing' });
      expect(logged(MISSING_WARNING)).toHaveLength(2);
      await wrongDb.end();
    });
  }, 60000);

  test('synced before (its cursor remembers the domain and a call), then the wrong database: domain-missing, the run not recorded; on the right database the later call is read', async () => {
    const serviceId = 7303;
    const { client, tenant } = await tenantThroughWebhook(kit, serviceId);
    // Unanswered (not billable): read and charged at nothing, so no unbilled call holds the credit but the late one.
    const first = await kit.insertCdr(tenant, { start: new Date(Date.now() - 120_000).toISOString(), billsec: 0 });
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1, notBillable: 1 });
    await goodwill(serviceId, '-5.000000');
    const late = await kit.insertCdr(tenant, { start: new Date(Date.now() - 60_000).toISOString(), billsec: 600, destination: '0114930123456' });
    expect((await sendWebhook(kit, webhookEvent(serviceId, client.id, 'terminate'))).body.result).toBe('success');
    const before = (await getCdrSyncCursor(kit.deps.pool, serviceId))!;
    expect(before).toMatchObject({ domainUuid: tenant.domainUuid, lastXmlCdrUuid: first });

    await withWrongFusionDatabase(async (wrong) => {
      expect(await syncTenantCdrs(wrong.deps, serviceId)).toMatchObject({ status: 'domain-missing', read: 0 });
      expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toEqual(before);
      expect(await creditViews(serviceId)).toEqual(NOT_FINAL);
    });

    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1, rated: 1 });
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toMatchObject({ lastXmlCdrUuid: late });
  }, 60000);

  test('synced before with no call read (its cursor remembers the domain, no CDR), then the wrong database: domain-missing, the run not recorded; on the right database the call is read, billed, and the credit settled', async () => {
    const serviceId = 7304;
    const { client, tenant } = await tenantThroughWebhook(kit, serviceId);
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', pages: 0, read: 0 });
    await goodwill(serviceId, '-5.000000');
    const start = new Date(Date.now() - 60_000);
    // Made after the last good sync: 10 min to Germany at 0.021, 0.21.
    await kit.insertCdr(tenant, { start: start.toISOString(), billsec: 600, destination: '0114930123456' });
    expect((await sendWebhook(kit, webhookEvent(serviceId, client.id, 'terminate'))).body.result).toBe('success');
    const before = (await getCdrSyncCursor(kit.deps.pool, serviceId))!;
    expect(before).toMatchObject({ domainUuid: tenant.domainUuid, lastXmlCdrUuid: '00000000-0000-0000-0000-000000000000' });

    await withWrongFusionDatabase(async (wrong) => {
      const logsBefore = kit.bridge.logLines.length;
      expect(await syncJob(wrong, serviceId, 'wrong-db')).toMatchObject({ serviceId, status: 'domain-missing', pages: 0, read: 0, inserted: 0 });
      expect(await domainMissingCount(wrong)).toBe(1);
      expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toEqual(before);
      expect(kit.bridge.logLines.slice(logsBefore).filter((line) => line.includes(MISSING_WARNING))).toHaveLength(1);
      expect(await creditViews(serviceId)).toEqual(NOT_FINAL);
    });

    await readBillAndSettle(serviceId, start);
  }, 60000);

  test('synced before with no call read, then its domain deleted by hand and still no call: domain-missing (not final) until the domain row is restored with its uuid, then the run counts', async () => {
    const serviceId = 7305;
    const { client, tenant } = await tenantThroughWebhook(kit, serviceId);
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', read: 0 });
    await goodwill(serviceId, '-3.000000');
    expect((await sendWebhook(kit, webhookEvent(serviceId, client.id, 'terminate'))).body.result).toBe('success');
    await purgeBehindTheBridge(serviceId);

    // No call of its uuid anywhere: this database cannot be told from a wrong one.
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'domain-missing', read: 0 });
    expect(await creditViews(serviceId)).toEqual(NOT_FINAL);

    // The README's way out: the domain row back with its uuid (the cursor remembers it: cdr_sync_cursors.domain_uuid).
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toMatchObject({ domainUuid: tenant.domainUuid });
    await restoreDomain(tenant);
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', read: 0 });
    expect(await recordCreditsLeft(kit.deps.pool, { serviceId })).toEqual([expect.objectContaining({ serviceId, credit: '-3.000000' })]);
    expect(await settle(serviceId)).toMatchObject({ settled: true, settlement: { credit: '-3.000000' } });
  }, 60000);

  test('domain deleted by hand (its calls left in v_xml_cdr): domain-missing and not final until the domain is back, then its call is read', async () => {
    const serviceId = 7302;
    const { tenant } = await provisionedTerminated(serviceId);
    await purgeBehindTheBridge(serviceId);

    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'domain-missing', read: 0 });
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toBeNull();
    expect(await creditViews(serviceId)).toEqual(NOT_FINAL);

    // The domain restored with its uuid: the call is read.
    await restoreDomain(tenant);
    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'synced', inserted: 1, rated: 1 });
  }, 60000);

  test('a tenant the bridge never recorded provisioning (no observed state), no domain: the run counts, its credit is final and settled', async () => {
    const tenant = await kit.addTenant({ desiredState: 'terminated' });
    const { serviceId } = tenant;
    await goodwill(serviceId, '-2.000000');
    await kit.bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [tenant.domainUuid]);
    expect(await kit.deps.services.get(serviceId)).toMatchObject({ observedState: null });

    expect(await syncTenantCdrs(kit.deps, serviceId)).toMatchObject({ status: 'no-domain' });
    expect(await getCdrSyncCursor(kit.deps.pool, serviceId)).toMatchObject({ domainUuid: '00000000-0000-0000-0000-000000000000' });
    expect(await recordCreditsLeft(kit.deps.pool, { serviceId })).toEqual([expect.objectContaining({ serviceId, credit: '-2.000000' })]);
    expect(await settle(serviceId)).toMatchObject({ settled: true, settlement: { credit: '-2.000000' } });
  }, 60000);
});
