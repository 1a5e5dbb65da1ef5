import { listCharges } from '@ictvoip/store';
import { useBillingCli } from './billing-cli-kit';
import type { CliRun } from './run-cli';

// One job run reads 2 × 2 = 4 rows: the range below is four runs' worth.
const { kit, cli } = useBillingCli({ CDR_SYNC_PAGE_SIZE: '2', CDR_SYNC_MAX_PAGES: '2' });

function expectSuccess(run: CliRun): void {
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
}

const minute = (day: string, i: number) => `2025-01-${day}T10:${String(i).padStart(2, '0')}:00Z`;

it('cdr backfill --dry-run over more CDRs than one run reads counts what the job then inserts, from the adopted tenant’s billing start', async () => {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET cdr_billing_from = '2025-01-05T00:00:00Z' WHERE service_id = $1`, [tenant.serviceId]);
  // Billed by the old system: before the billing start, neither read nor counted.
  await kit.insertCdr(tenant, { start: minute('03', 0), billsec: 60 });
  // Nine charged first (more than two runs' worth), then four missing: one before them, three after.
  for (let i = 0; i < 9; i += 1) await kit.insertCdr(tenant, { start: minute('10', i), billsec: 60 });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-09', '--wait', '60', '--json'));
  expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length).toBe(9);
  await kit.insertCdr(tenant, { start: minute('06', 0), billsec: 60 });
  for (let i = 0; i < 3; i += 1) await kit.insertCdr(tenant, { start: minute('20', i), billsec: 60 });

  const args = ['cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-01'];
  const preview = await cli(...args, '--dry-run', '--json');
  expectSuccess(preview);
  // 13 rows from the billing start: three full runs of four rows, and a fourth for the last one.
  expect(preview.json).toEqual({
    dryRun: true,
    services: [{ serviceId: tenant.serviceId, status: 'synced', from: '2025-01-05T00:00:00.000Z', read: 13, new: 4, alreadyCharged: 9, runs: 4, more: true }],
  });
  expect((await cli(...args, '--dry-run')).stdout).toContain(
    `service ${tenant.serviceId}: 13 CDR(s) from 2025-01-05T00:00:00.000Z would be read, 4 new, 9 already charged (in 4 runs of CDR_SYNC_MAX_PAGES pages, one job: it reads on to the newest); dry run, nothing enqueued`,
  );

  const applied = await cli(...args, '--wait', '60', '--json');
  expectSuccess(applied);
  expect((applied.json as { jobs: { result: unknown }[] }).jobs[0]?.result).toEqual(expect.objectContaining({ read: 13, inserted: 4, more: false }));
  expect((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length).toBe(13);
  expect((await cli(...args, '--dry-run', '--json')).json).toEqual({ dryRun: true, services: [expect.objectContaining({ read: 13, new: 0, alreadyCharged: 13 })] });
}, 120_000);
