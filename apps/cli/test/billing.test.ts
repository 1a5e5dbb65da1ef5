import { batchIdFor } from '@ictvoip/store';
import { runCli, type CliRun } from './run-cli';
import { expectedMicro, microToDecimal, startBillingKit, type BillingKit } from '../../worker/test/cdr-billing-kit';

const PERIOD = '2025-01';
let kit: BillingKit;

const cli = (...args: string[]): Promise<CliRun> => runCli(kit.bridge.env, args);

/** Exit 0; otherwise fails with the CLI's own message. */
function expectSuccess(run: CliRun): void {
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
}

type JobReport = { id: string; name: string; outcome: string; state?: string; result?: Record<string, unknown> };
const jobsOf = (run: CliRun) => run.json.jobs as JobReport[];
const count = async (sql: string, params: unknown[]) => Number((await kit.deps.pool.query<{ n: string }>(sql, params)).rows[0]?.n);

beforeAll(async () => {
  // No WHMCS faults here: a generous timeout so a loaded CI machine cannot turn a push into 'unknown'.
  kit = await startBillingKit({ WHMCS_API_TIMEOUT_MS: '10000' });
});
afterAll(async () => {
  await kit.close();
});

it('cdr backfill → billing close --dry-run (writes nothing) → billing close --wait pushes → rerate --wait leaves pushed charges alone', async () => {
  const tenant = await kit.addTenant();
  // Dialled as in the deck's numbering plan (011 = international); rated on the E.164 digits.
  const calls = [
    { start: '2025-01-10T10:00:00Z', billsec: 61, destination: '12125550100', e164: '12125550100' },
    { start: '2025-01-11T10:00:00Z', billsec: 30, destination: '0114930123456', e164: '4930123456' },
  ];
  for (const call of calls) await kit.insertCdr(tenant, call);
  const expectedTotal = microToDecimal(calls.reduce((sum, call) => sum + expectedMicro(call.e164, call.billsec), 0n));

  const backfill = await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-01', '--wait', '30', '--json');
  expectSuccess(backfill);
  expect(jobsOf(backfill)).toEqual([
    expect.objectContaining({ name: 'cdr.backfill', outcome: 'enqueued', state: 'completed', result: expect.objectContaining({ inserted: calls.length, rated: calls.length }) }),
  ]);

  const preview = await cli('billing', 'close', '--period', PERIOD, '--dry-run', '--json');
  expectSuccess(preview);
  expect(preview.json.services).toEqual([
    {
      serviceId: tenant.serviceId,
      batchId: batchIdFor(tenant.serviceId, PERIOD),
      period: PERIOD,
      state: null,
      charges: calls.length,
      adjustments: 0,
      total: expectedTotal,
      currency: 'USD',
    },
  ]);
  expect(await count('SELECT count(*)::text AS n FROM billing_batches', [])).toBe(0);
  expect(await kit.deps.queues.billing.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 });

  const close = await cli('billing', 'close', '--period', PERIOD, '--wait', '30', '--json');
  expectSuccess(close);
  expect(jobsOf(close)).toEqual([
    expect.objectContaining({
      name: 'billing.push-batch',
      outcome: 'enqueued',
      state: 'completed',
      result: expect.objectContaining({ outcome: 'pushed', batchId: batchIdFor(tenant.serviceId, PERIOD) }),
    }),
  ]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toHaveLength(1);

  // Nothing left to push for the period: push enqueues nothing.
  const push = await cli('billing', 'push', '--period', PERIOD, '--json');
  expectSuccess(push);
  expect(jobsOf(push)).toEqual([]);

  const rerate = await cli('rerate', '--service', String(tenant.serviceId), '--period', PERIOD, '--wait', '30', '--json');
  expectSuccess(rerate);
  expect(jobsOf(rerate)).toEqual([
    expect.objectContaining({ name: 'billing.rerate-period', state: 'completed', result: expect.objectContaining({ immutable: calls.length, updated: 0, adjustment: null }) }),
  ]);
  expect(kit.whmcs.state.billableItems.filter((item) => item.clientid === tenant.clientId)).toHaveLength(1);
}, 120_000);

it('refuses a bad period, service or date with a clear message and a non-zero exit, enqueueing nothing', async () => {
  const before = await kit.deps.queues.billing.getJobCounts('waiting', 'completed');
  const runs = await Promise.all([
    cli('billing', 'close', '--period', '2025-13', '--json'),
    cli('rerate', '--service', '0', '--period', PERIOD),
    cli('cdr', 'backfill', '--service', '5', '--from', 'last tuesday'),
  ]);
  expect(runs.map((run) => run.code)).toEqual([1, 1, 1]);
  expect(runs[0]?.stderr).toMatch(/period must be YYYY-MM/);
  expect(runs[1]?.stderr).toMatch(/--service must be a positive integer/);
  expect(runs[2]?.stderr).toMatch(/--from must be an ISO-8601 date/);
  expect(await kit.deps.queues.billing.getJobCounts('waiting', 'completed')).toEqual(before);
}, 60_000);
