import { importRateDeck } from '@ictvoip/store';
import { DECK_CSV, expectedMicro, microToDecimal } from '../../worker/test/cdr-billing-kit';
import { useBillingCli } from './billing-cli-kit';
import { databaseDigest, type CliRun } from './run-cli';

const PERIOD = '2025-01';
const { kit, cli } = useBillingCli({ WHMCS_API_TIMEOUT_MS: '10000' });

function expectSuccess(run: CliRun): void {
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
}

/** Both databases and every queue: a dry-run must leave all of them exactly as they were. */
async function everything() {
  const queues: Record<string, unknown> = {};
  for (const [name, queue] of Object.entries(kit.deps.queues)) queues[name] = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  return { bridge: await databaseDigest(kit.deps.pool), fusion: await databaseDigest(kit.bridge.fusion), queues };
}

it('cdr backfill --dry-run counts the CDRs it would read and how many are new; rerate --dry-run shows the changed charges and the adjustment; neither writes, twice alike', async () => {
  const invoiced = await kit.addTenant();
  const calls = [
    { start: '2025-01-10T10:00:00Z', billsec: 61, destination: '12125550100' },
    { start: '2025-01-11T10:00:00Z', billsec: 30, destination: '0114930123456' },
  ];
  for (const call of calls) await kit.insertCdr(invoiced, call);

  let before = await everything();
  const backfillArgs = ['cdr', 'backfill', '--service', String(invoiced.serviceId), '--from', '2025-01-01', '--dry-run', '--json'];
  const preview = await cli(...backfillArgs);
  expectSuccess(preview);
  expect(preview.json).toEqual({
    dryRun: true,
    services: [{ serviceId: invoiced.serviceId, status: 'synced', from: '2025-01-01T00:00:00.000Z', read: 2, new: 2, alreadyCharged: 0, runs: 1, more: false }],
  });
  expect((await cli(...backfillArgs)).json).toEqual(preview.json);
  expect(await everything()).toEqual(before);

  expectSuccess(await cli('cdr', 'backfill', '--service', String(invoiced.serviceId), '--from', '2025-01-01', '--wait', '30', '--json'));
  const after = await cli(...backfillArgs.filter((arg) => arg !== '--json'));
  expect(after.stdout).toContain(`service ${invoiced.serviceId}: 2 CDR(s) from 2025-01-01T00:00:00.000Z would be read, 0 new, 2 already charged; dry run, nothing enqueued`);

  // Invoice the first tenant's charges, then rate a second tenant's call that is not invoiced yet.
  expectSuccess(await cli('billing', 'close', '--period', PERIOD, '--wait', '30', '--json'));
  const open = await kit.addTenant();
  await kit.insertCdr(open, { start: '2025-01-12T10:00:00Z', billsec: 30, destination: '0114930123456' });
  expectSuccess(await cli('cdr', 'backfill', '--service', String(open.serviceId), '--from', '2025-01-01', '--wait', '30', '--json'));

  // Germany re-priced 0.021 → 0.030 a minute.
  const repriced = await importRateDeck(kit.deps.pool, 'std', DECK_CSV.replace('49,Germany,0.021000', '49,Germany,0.030000'), {
    currency: 'USD',
    numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  });
  expect(repriced.ok).toBe(true);
  const oldGermany = microToDecimal(expectedMicro('4930123456', 30));
  const newGermany = microToDecimal(expectedMicro('4930123456', 30, 30_000n));

  before = await everything();
  const rerateInvoiced = await cli('rerate', '--service', String(invoiced.serviceId), '--period', PERIOD, '--dry-run', '--json');
  expectSuccess(rerateInvoiced);
  expect(rerateInvoiced.json).toEqual({
    dryRun: true,
    serviceId: invoiced.serviceId,
    period: PERIOD,
    updated: 0,
    immutable: 2,
    missing: 0,
    adjustment: microToDecimal(30_000n - 21_000n),
    dissolvedBatch: null,
    // The invoiced charge the adjustment comes from, shown with its old and new price.
    changes: [{ xmlCdrUuid: expect.any(String), from: { amount: oldGermany, status: 'rated' }, to: { amount: newGermany, status: 'rated' }, invoiced: true }],
  });
  expect((await cli('rerate', '--service', String(invoiced.serviceId), '--period', PERIOD, '--dry-run')).stdout).toContain(
    `: ${oldGermany} rated → ${newGermany} rated (invoiced: in the adjustment)`,
  );
  const rerateOpen = await cli('rerate', '--service', String(open.serviceId), '--period', PERIOD, '--dry-run', '--json');
  expectSuccess(rerateOpen);
  expect(rerateOpen.json).toEqual(
    expect.objectContaining({
      updated: 1,
      immutable: 0,
      adjustment: null,
      changes: [{ xmlCdrUuid: expect.any(String), from: { amount: oldGermany, status: 'rated' }, to: { amount: newGermany, status: 'rated' } }],
    }),
  );
  const text = await cli('rerate', '--service', String(open.serviceId), '--period', PERIOD, '--dry-run');
  expect(text.stdout).toContain(`: ${oldGermany} rated → ${newGermany} rated`);
  expect(text.stdout).toContain('dry run: rolled back, nothing changed');
  expect((await cli('rerate', '--service', String(invoiced.serviceId), '--period', PERIOD, '--dry-run', '--json')).json).toEqual(rerateInvoiced.json);
  expect(await everything()).toEqual(before);

  // The real runs do what the dry-runs said.
  const real = await cli('rerate', '--service', String(invoiced.serviceId), '--period', PERIOD, '--wait', '30', '--json');
  expect((real.json.jobs as { result: Record<string, unknown> }[])[0]?.result).toEqual(
    expect.objectContaining({ updated: 0, immutable: 2, adjustment: rerateInvoiced.json.adjustment }),
  );
  expectSuccess(await cli('rerate', '--service', String(open.serviceId), '--period', PERIOD, '--wait', '30', '--json'));
  const { rows } = await kit.deps.pool.query<{ amount: string }>('SELECT amount::text FROM cdr_charges WHERE service_id = $1', [open.serviceId]);
  expect(rows.map((row) => row.amount)).toEqual([newGermany]);
}, 240_000);

it('refuses an unknown service or a bad period with a non-zero exit, writing nothing', async () => {
  const before = await everything();
  const [unknown, badPeriod, unknownBackfill] = await Promise.all([
    cli('rerate', '--service', '999999', '--period', PERIOD, '--dry-run', '--json'),
    cli('rerate', '--service', '5', '--period', '2025-1', '--dry-run'),
    cli('cdr', 'backfill', '--service', '999999', '--from', '2025-01-01', '--dry-run', '--json'),
  ]);
  expect(unknown.code).toBe(1);
  expect(unknown.json).toEqual({ error: { code: 'SERVICE_UNKNOWN', message: 'service 999999 is not known to the bridge' } });
  expect(badPeriod.code).toBe(1);
  expect(badPeriod.stderr).toMatch(/period must be YYYY-MM/);
  expect(unknownBackfill.json).toEqual({ dryRun: true, services: [expect.objectContaining({ serviceId: 999999, status: 'no-tenant', read: 0, new: 0 })] });
  expect(await everything()).toEqual(before);
}, 120_000);
