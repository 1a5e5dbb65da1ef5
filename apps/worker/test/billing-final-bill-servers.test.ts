import { randomUUID } from 'node:crypto';
import { addJob, BILLING_JOBS } from '@ictvoip/queue';
import { batchIdFor, FusionServersRepository, getBatch, pushTokenFor } from '@ictvoip/store';
import { reconcileInbox, syncTenantCdrs } from '../src';
import { finalBillJobId, runFinalBill } from '../src/jobs/billing';
import { waitFor } from './harness';
import { useBillingKit, type Tenant } from './cdr-billing-kit';

// A terminated tenant on a registered FusionPBX server ("pbx2", here the kit's own FusionPBX database) that is disabled when its final bill is due.
let registry: FusionServersRepository;

// Two attempts per job: a final bill that cannot run fails for good quickly.
const kit = useBillingKit({ WHMCS_API_TIMEOUT_MS: '10000', JOB_ATTEMPTS: '2' }, { setUp: addPbx2 });

/** The kit's own FusionPBX database registered again as server "pbx2". */
async function addPbx2(): Promise<void> {
  registry = new FusionServersRepository(kit.deps.pool, kit.bridge.config.sealing);
  await registry.add({ name: 'pbx2', databaseUrl: kit.bridge.fusionDb.url, eslHost: kit.bridge.esl.host, eslPort: kit.bridge.esl.port, eslPassword: 'ClueCon', whmcsServerId: 2 });
}

/** A terminated tenant on pbx2 with one call synced. */
async function terminatedOnPbx2(): Promise<Tenant> {
  const tenant = await kit.addTenant({ desiredState: 'terminated' });
  await kit.deps.pool.query(`UPDATE services SET fusionpbx_server = 'pbx2' WHERE service_id = $1`, [tenant.serviceId]);
  return tenant;
}

test("a final bill waits while the tenant's server is disabled (its final CDR sync cannot run), then bills every call", async () => {
  const tenant = await terminatedOnPbx2();
  await kit.insertCdr(tenant, { start: '2025-01-20T10:00:00Z', billsec: 60 });
  expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ status: 'synced', inserted: 1 });
  // The last call before the termination, not collected yet.
  await kit.insertCdr(tenant, { start: '2025-01-20T11:00:00Z', billsec: 120 });
  await registry.setEnabled('pbx2', false);
  try {
    await expect(runFinalBill(kit.deps, tenant.serviceId, '2025-01')).rejects.toThrow(/pbx2/);
    expect(await getBatch(kit.deps.pool, batchIdFor(tenant.serviceId, '2025-01'))).toBeNull();
  } finally {
    await registry.setEnabled('pbx2', true);
  }
  const result = await runFinalBill(kit.deps, tenant.serviceId, '2025-01');
  expect(result).toMatchObject({ status: 'billed', push: { state: 'pushed' } });
  const { rows } = await kit.deps.pool.query('SELECT count(*)::int AS n FROM cdr_charges WHERE service_id = $1 AND batch_id = $2', [
    tenant.serviceId,
    batchIdFor(tenant.serviceId, '2025-01'),
  ]);
  expect(rows[0].n).toBe(2);
});

test('a final bill whose job used up its attempts (server disabled) is added again by the reconciler once it can run, and billed once', async () => {
  const tenant = await terminatedOnPbx2();
  await kit.insertCdr(tenant, { start: '2025-01-20T10:00:00Z', billsec: 60 });
  expect(await syncTenantCdrs(kit.deps, tenant.serviceId)).toMatchObject({ status: 'synced', inserted: 1 });
  // The terminate event, the service terminated long ago (the final bill is due), and its final bill job.
  const eventId = randomUUID();
  const terminatedAt = new Date('2025-01-20T12:00:00Z');
  await kit.deps.inbox.record({
    eventId,
    bodyHash: 'h',
    action: 'terminate',
    serviceId: tenant.serviceId,
    clientId: tenant.clientId,
    payload: {},
    sealedSecrets: null,
    jobId: `evt-${eventId}`,
  });
  await kit.deps.inbox.markSucceeded(eventId, {});
  await kit.deps.pool.query(`UPDATE webhook_inbox SET finished_at = $2 WHERE event_id = $1`, [eventId, terminatedAt]);
  // The service's own termination time is what the reconciler reads (terminatedAtSql), as the close and the purge do.
  await kit.deps.pool.query(`UPDATE services SET terminated_at = $2 WHERE service_id = $1`, [tenant.serviceId, terminatedAt]);
  const jobId = finalBillJobId(tenant.serviceId, eventId);
  await registry.setEnabled('pbx2', false);
  try {
    await addJob(kit.deps.queues, BILLING_JOBS.pushBatch, { serviceId: tenant.serviceId, period: '2025-01' }, { jobId, timestamp: terminatedAt.getTime() });
    await waitFor(async () => (await (await kit.deps.queues.billing.getJob(jobId))?.getState()) === 'failed', 20000, 'the final bill job failed for good');
    // Still unable to run: added again (one attempt more), nothing billed.
    expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(1);
    await waitFor(async () => (await (await kit.deps.queues.billing.getJob(jobId))?.getState()) === 'failed', 20000, 'the final bill job failed again');
  } finally {
    await registry.setEnabled('pbx2', true);
  }
  expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(1);
  const batchId = batchIdFor(tenant.serviceId, '2025-01');
  await waitFor(async () => (await getBatch(kit.deps.pool, batchId))?.state === 'pushed', 20000, 'the final bill pushed');
  expect(kit.whmcs.state.billableItems.filter((item) => item.description.includes(pushTokenFor(batchId)))).toHaveLength(1);
  // Billed: never added again.
  expect((await reconcileInbox(kit.deps, null, 0)).finalBillsRequeued).toBe(0);
});

test("a final bill waits while the tenant's domain is missing from its server's database (domain-missing: its calls cannot be read), then bills every call", async () => {
  const tenant = await kit.addTenant({ desiredState: 'terminated' });
  // Provisioned by the bridge (an observed state): a domain missing now is a wrong database or a domain deleted by hand.
  await kit.deps.pool.query(`UPDATE services SET observed_state = 'terminated' WHERE service_id = $1`, [tenant.serviceId]);
  await kit.insertCdr(tenant, { start: '2025-01-20T11:00:00Z', billsec: 120 });
  await kit.bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [tenant.domainUuid]);
  await expect(runFinalBill(kit.deps, tenant.serviceId, '2025-01')).rejects.toThrow(/domain .* is missing from FusionPBX server default's database/);
  expect(await getBatch(kit.deps.pool, batchIdFor(tenant.serviceId, '2025-01'))).toBeNull();
  // The README's way out: the domain row back with its uuid.
  await kit.bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [tenant.domainUuid, tenant.domainName]);
  expect(await runFinalBill(kit.deps, tenant.serviceId, '2025-01')).toMatchObject({ status: 'billed', push: { state: 'pushed' } });
  const { rows } = await kit.deps.pool.query('SELECT count(*)::int AS n FROM cdr_charges WHERE service_id = $1 AND batch_id = $2', [
    tenant.serviceId,
    batchIdFor(tenant.serviceId, '2025-01'),
  ]);
  expect(rows[0].n).toBe(1);
});
