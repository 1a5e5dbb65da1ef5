/**
 * `ictvoip billing close --period` with BILLING_PERIODS=service: each service's own closed cycle
 * period containing the label's first day, under its own label (not every service under the label
 * given), exactly once; real PostgreSQL and Redis, the FusionPBX schema and the WHMCS stand-in.
 */
import { batchIdFor, listBatches } from '@ictvoip/store';
import { syncTenantCdrs } from '../../worker/src';
import { addCycleTenant, type Tenant } from '../../worker/test/cdr-billing-kit';
import { useBillingCli } from './billing-cli-kit';
import type { CliRun } from './run-cli';

const { kit, cli } = useBillingCli({ BILLING_PERIODS: 'service', WHMCS_API_TIMEOUT_MS: '10000' });
let nextService = 8600;

const tenant = (cycle: string, nextduedate: string): Promise<Tenant> => addCycleTenant(kit, nextService++, cycle, nextduedate);

type Preview = { serviceId: number; batchId: string; period: string; charges: number };
const previewOf = (run: CliRun, t: Tenant) => (run.json.services as Preview[]).filter((p) => p.serviceId === t.serviceId);
const batchesOf = async (t: Tenant) => (await listBatches(kit.deps.pool, { serviceId: t.serviceId })).map((b) => [b.period, b.callCount, b.state]);

test('close --period 2025-01: a quarterly service closes its own period containing 1 January, a monthly one January; a repeat adds nothing; a later label closes the next cycle period', async () => {
  const quarterly = await tenant('Quarterly', '2025-04-15');
  const monthly = await tenant('Monthly', '2025-02-01');
  for (const start of ['2025-01-10T12:00:00Z', '2025-01-20T12:00:00Z', '2025-02-10T12:00:00Z']) await kit.insertCdr(quarterly, { start, billsec: 60 });
  for (const start of ['2025-01-10T12:00:00Z', '2025-02-10T12:00:00Z']) await kit.insertCdr(monthly, { start, billsec: 60 });
  expect((await syncTenantCdrs(kit.deps, quarterly.serviceId)).rated).toBe(3);
  expect((await syncTenantCdrs(kit.deps, monthly.serviceId)).rated).toBe(2);

  const preview = await cli('billing', 'close', '--period', '2025-01', '--dry-run', '--json');
  expect(preview.code).toBe(0);
  expect(previewOf(preview, quarterly)).toEqual([expect.objectContaining({ period: '2024-10-15', batchId: batchIdFor(quarterly.serviceId, '2024-10-15'), charges: 1 })]);
  expect(previewOf(preview, monthly)).toEqual([expect.objectContaining({ period: '2025-01', charges: 1 })]);
  expect(await batchesOf(quarterly)).toEqual([]);

  const close = await cli('billing', 'close', '--period', '2025-01', '--wait', '30', '--json');
  expect({ code: close.code, stderr: close.code === 0 ? '' : close.stderr }).toEqual({ code: 0, stderr: '' });
  expect(await batchesOf(quarterly)).toEqual([['2024-10-15', 1, 'pushed']]);
  expect(await batchesOf(monthly)).toEqual([['2025-01', 1, 'pushed']]);

  expect((await cli('billing', 'close', '--period', '2025-01', '--wait', '30', '--json')).code).toBe(0);
  expect(await batchesOf(quarterly)).toEqual([['2024-10-15', 1, 'pushed']]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === quarterly.clientId)).toHaveLength(1);

  // A day inside the next quarter names that quarter (15 Jan – 14 Apr): its two calls, under its own label.
  expect((await cli('billing', 'close', '--period', '2025-02-20', '--wait', '30', '--json')).code).toBe(0);
  expect(await batchesOf(quarterly)).toEqual([
    ['2024-10-15', 1, 'pushed'],
    ['2025-01-15', 2, 'pushed'],
  ]);
  expect(await batchesOf(monthly)).toEqual([
    ['2025-01', 1, 'pushed'],
    ['2025-02', 1, 'pushed'],
  ]);
  const bad = await cli('billing', 'close', '--period', '2025-02-30', '--dry-run', '--json');
  expect(bad.code).not.toBe(0);
}, 180_000);
