import { batchIdFor, FusionServersRepository, getBatch } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { runFinalBill } from '../src/jobs/billing';
import { startBillingKit, type BillingKit } from './cdr-billing-kit';

// A terminated tenant on a registered FusionPBX server ("pbx2", here the kit's own FusionPBX database) that is disabled when its final bill is due.
let kit: BillingKit;
let registry: FusionServersRepository;

beforeAll(async () => {
  kit = await startBillingKit({ WHMCS_API_TIMEOUT_MS: '10000' });
  registry = new FusionServersRepository(kit.deps.pool, kit.bridge.config.sealing);
  await registry.add({ name: 'pbx2', databaseUrl: kit.bridge.fusionDb.url, eslHost: kit.bridge.esl.host, eslPort: kit.bridge.esl.port, eslPassword: 'ClueCon', whmcsServerId: 2 });
}, 30000);

afterAll(async () => {
  await kit.close();
});

test("a final bill waits while the tenant's server is disabled (its final CDR sync cannot run), then bills every call", async () => {
  const tenant = await kit.addTenant({ desiredState: 'terminated' });
  await kit.deps.pool.query(`UPDATE services SET fusionpbx_server = 'pbx2' WHERE service_id = $1`, [tenant.serviceId]);
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
