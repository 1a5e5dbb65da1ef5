import { FusionServersRepository, listCharges } from '@ictvoip/store';
import { waitFor } from '../../worker/test/harness';
import type { Tenant } from '../../worker/test/cdr-billing-kit';
import { useBillingCli } from './billing-cli-kit';
import type { CliRun } from './run-cli';

// A backfill's collection is run after run (one run reads 2 × 1 = 2 rows here). A later run that finds the
// tenant's server unavailable ends it with `more: false` and the runs before's counts: `cdr backfill` must
// say it stopped early and why, so the partial counts are not read as the whole range's.
let registry: FusionServersRepository;
const { kit, cli } = useBillingCli({ CDR_SYNC_PAGE_SIZE: '2', CDR_SYNC_MAX_PAGES: '1' }, { setUp: addPbx2 });

/** The kit's own FusionPBX database registered again as server "pbx2". */
async function addPbx2(): Promise<void> {
  registry = new FusionServersRepository(kit.deps.pool, kit.bridge.config.sealing);
  await registry.add({ name: 'pbx2', databaseUrl: kit.bridge.fusionDb.url, eslHost: kit.bridge.esl.host, eslPort: kit.bridge.esl.port, eslPassword: 'ClueCon', whmcsServerId: 2 });
}

const CALLS = 40;
/** What a backfill that did not read its whole range says on stderr, beside exit code 1 (its report says why). */
const PARTIAL = 'ictvoip: the backfill did not read its whole range (see its report); run it again once that is fixed';

/** A tenant on pbx2 with CALLS calls (20 runs' worth), none charged. */
async function tenantOnPbx2(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET fusionpbx_server = 'pbx2' WHERE service_id = $1`, [tenant.serviceId]);
  for (let i = 0; i < CALLS; i += 1) await kit.insertCdr(tenant, { start: `2025-01-10T10:${String(i).padStart(2, '0')}:00Z`, billsec: 60 });
  return tenant;
}

/** `cdr backfill … --wait` with pbx2 disabled once its first run charged calls (and before the last): the run after it stops. */
async function backfillStoppedByDisabledServer(tenant: Tenant, ...extra: string[]): Promise<{ run: CliRun; charged: number }> {
  const running = cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-01', '--wait', '60', ...extra);
  try {
    await waitFor(async () => (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length > 0, 30000, 'the backfill charged its first calls');
    await registry.setEnabled('pbx2', false);
    const run = await running;
    return { run, charged: (await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).length };
  } finally {
    await running.catch(() => undefined);
    await registry.setEnabled('pbx2', true);
  }
}

it('cdr backfill --json: a later run of the collection stopped by its server disabled says stoppedEarly (status, runs, why) with the partial counts', async () => {
  const tenant = await tenantOnPbx2();
  const { run, charged } = await backfillStoppedByDisabledServer(tenant, '--json');
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 1, stderr: `${PARTIAL}\n` });
  expect(charged).toBeGreaterThan(0);
  expect(charged).toBeLessThan(CALLS);
  const result = (run.json as { jobs: { state: string; result: Record<string, unknown> }[] }).jobs[0]!;
  expect(result.state).toBe('completed');
  expect(result.result).toMatchObject({
    serviceId: tenant.serviceId,
    status: 'server-unavailable',
    inserted: charged,
    more: false,
    stoppedEarly: { status: 'server-unavailable', runs: charged / 2, message: expect.stringContaining('stopped early after') },
  });
  // The worker's log says it too (a backfill enqueued without --wait is seen there only).
  const warned = kit.bridge.logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.serviceId === tenant.serviceId && line.level === 40);
  expect(warned).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ status: 'server-unavailable', runs: charged / 2, inserted: charged, msg: expect.stringContaining('cdr backfill stopped early after') }),
    ]),
  );
}, 120_000);

it('cdr backfill (text): the stopped collection is said on its own line, with why', async () => {
  const tenant = await tenantOnPbx2();
  const { run, charged } = await backfillStoppedByDisabledServer(tenant);
  expect(run.code).toBe(1);
  // Its last line, after --wait's progress line.
  expect(run.stderr.split('\n').slice(-2)).toEqual([PARTIAL, '']);
  expect(charged).toBeLessThan(CALLS);
  expect(run.stdout).toContain(
    `service ${tenant.serviceId}: backfill stopped early after ${charged / 2} run(s): its FusionPBX server became unavailable (server-unavailable); the counts are partial, the rest of the range is not read: run it again once that is fixed`,
  );
}, 120_000);

it('cdr backfill (text) of a provisioned tenant whose domain its server lacks: says it read nothing, and why', async () => {
  const tenant = await kit.addTenant();
  // Provisioned by the bridge (an observed state), its domain row gone: domain-missing from the first run.
  await kit.deps.pool.query(`UPDATE services SET observed_state = 'active' WHERE service_id = $1`, [tenant.serviceId]);
  await kit.insertCdr(tenant, { start: '2025-01-10T10:00:00Z', billsec: 60 });
  await kit.bridge.fusion.query('DELETE FROM v_domains WHERE domain_uuid = $1', [tenant.domainUuid]);
  const run = await cli('cdr', 'backfill', '--service', String(tenant.serviceId), '--from', '2025-01-01', '--wait', '60');
  expect(run.code).toBe(1);
  expect(run.stderr.split('\n').slice(-2)).toEqual([PARTIAL, '']);
  expect(run.stdout).toContain(`service ${tenant.serviceId}: backfill read nothing (domain-missing)`);
}, 120_000);
