import { CREDIT_LEFT_ACTION, CREDIT_SETTLED_ACTION, insertAdjustment, listAdjustments } from '@ictvoip/store';
import { purgeTerminatedTenants } from '../../worker/src/jobs/maintenance/purge-terminated';
import { syncTenantCdrs, pushBillingBatch } from '../../worker/src';
import type { CliRun } from './run-cli';
import { useBillingCli } from './billing-cli-kit';

// `ictvoip billing settle`: a terminated service's credit left (BILLING_CREDIT_LEFT) recorded as settled in WHMCS by hand.
const { kit, cli } = useBillingCli({ WHMCS_API_TIMEOUT_MS: '10000', TERMINATE_RETENTION_DAYS: '30' });

async function credit(serviceId: number, amount: string, id = `m-${serviceId}`): Promise<void> {
  await insertAdjustment(kit.deps.pool, { adjustmentId: id, serviceId, kind: 'manual', amount, currency: 'USD', sourcePeriod: null, description: 'goodwill' });
}

const terminate = (serviceId: number) => kit.deps.pool.query(`UPDATE services SET desired_state = 'terminated', updated_at = now() WHERE service_id = $1`, [serviceId]);
const settlements = async (serviceId: number) =>
  (await kit.deps.pool.query('SELECT actor, detail FROM audit_log WHERE service_id = $1 AND action = $2 ORDER BY id', [serviceId, CREDIT_SETTLED_ACTION])).rows;
const pending = async (serviceId: number) => (await listAdjustments(kit.deps.pool, { serviceId, pendingOnly: true })).map((adjustment) => adjustment.amount);

function expectRefused(run: CliRun, code: string, message: RegExp): void {
  expect({ code: run.code, error: (run.json.error as { code?: string } | undefined)?.code }).toEqual({ code: 1, error: code });
  expect(run.stderr).toMatch(message);
}

describe('ictvoip billing settle', () => {
  it('refuses a service that is not terminated, one with no credit, and one whose credit is not final yet', async () => {
    const active = await kit.addTenant();
    await credit(active.serviceId, '-1.000000');
    expectRefused(await cli('billing', 'settle', '--service', String(active.serviceId), '--note', 'x', '--json'), 'NOT_TERMINATED', /is active, not terminated/);

    const none = await kit.addTenant();
    await terminate(none.serviceId);
    expectRefused(await cli('billing', 'settle', '--service', String(none.serviceId), '--note', 'x', '--json'), 'NO_CREDIT_LEFT', /has no credit left/);
    // A sub-cent remainder is no credit to refund.
    await credit(none.serviceId, '-0.004000');
    expectRefused(await cli('billing', 'settle', '--service', String(none.serviceId), '--note', 'x', '--json'), 'NO_CREDIT_LEFT', /has no credit left/);

    // A call rated and not billed yet: its bill takes the credit first.
    const calling = await kit.addTenant();
    await kit.insertCdr(calling, { start: new Date(Date.now() - 600_000).toISOString(), billsec: 60 });
    await syncTenantCdrs(kit.deps, calling.serviceId);
    await credit(calling.serviceId, '-1.000000');
    await terminate(calling.serviceId);
    // (synced again after the termination: only the unbilled call stands in the way)
    await syncTenantCdrs(kit.deps, calling.serviceId);
    expectRefused(await cli('billing', 'settle', '--service', String(calling.serviceId), '--note', 'x', '--json'), 'CREDIT_NOT_FINAL', /is not final/);
    expect(await pending(calling.serviceId)).toEqual(['-1.000000']);

    const missingNote = await cli('billing', 'settle', '--service', String(calling.serviceId));
    expect(missingNote.code).not.toBe(0);
    expect(missingNote.stderr).toMatch(/--note/);
    expect(await settlements(active.serviceId)).toEqual([]);
    expect(await settlements(none.serviceId)).toEqual([]);
    expect(await settlements(calling.serviceId)).toEqual([]);
  }, 60000);

  it('refuses the credit of a terminated tenant no sync has read while FusionPBX holds its call; after the sync and the bill it settles what is left', async () => {
    const tenant = await kit.addTenant();
    const { serviceId } = tenant;
    await credit(serviceId, '-5.000000');
    // Created and terminated between two syncs: its 10-minute call to Germany (0.21) is in v_xml_cdr, not collected.
    const start = new Date(Date.now() - 60_000);
    await kit.insertCdr(tenant, { start: start.toISOString(), billsec: 600, destination: '0114930123456' });
    await terminate(serviceId);
    const settle = () => cli('billing', 'settle', '--service', String(serviceId), '--note', 'refunded', '--json');
    expectRefused(await settle(), 'CREDIT_NOT_FINAL', /is not final/);

    await syncTenantCdrs(kit.deps, serviceId);
    expectRefused(await settle(), 'CREDIT_NOT_FINAL', /is not final/);
    const period = start.toISOString().slice(0, 7);
    expect(await pushBillingBatch(kit.deps, serviceId, period)).toMatchObject({ outcome: 'zero' });
    const settled = await settle();
    expect({ code: settled.code, stderr: settled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(settled.json).toMatchObject({ settled: true, settlement: { credit: '-4.790000' } });
  }, 60000);

  it('records the settlement once (the same command twice is one settlement), audited; its billing no longer holds the purge', async () => {
    const tenant = await kit.addTenant();
    const { serviceId } = tenant;
    await credit(serviceId, '-7.500000');
    await terminate(serviceId);
    // Its final bill: the sync after the termination (no call), then a zero bill carrying the credit, reported.
    await syncTenantCdrs(kit.deps, serviceId);
    expect(await pushBillingBatch(kit.deps, serviceId, '2025-01')).toMatchObject({ outcome: 'zero' });
    expect((await kit.deps.pool.query('SELECT count(*)::int AS n FROM audit_log WHERE service_id = $1 AND action = $2', [serviceId, CREDIT_LEFT_ACTION])).rows[0].n).toBe(1);
    await kit.deps.pool.query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    const later = new Date(Date.now() + 31 * 86400_000);
    expect((await purgeTerminatedTenants(kit.deps, later)).waiting.filter((held) => held.serviceId === serviceId)).toEqual([
      { serviceId, reason: `credit -7.500000 USD left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}\`` },
    ]);

    const [first, second] = await Promise.all([1, 2].map(() => cli('billing', 'settle', '--service', String(serviceId), '--note', 'refunded on credit note 77', '--json')));
    for (const run of [first!, second!]) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const answers = [first!.json, second!.json].sort((a, b) => Number(b.settled) - Number(a.settled));
    const settlement = { serviceId, credit: '-7.500000', currency: 'USD', note: 'refunded on credit note 77', adjustmentId: `settle-${serviceId}-1`, at: expect.any(String) };
    expect(answers).toEqual([
      { service: serviceId, settled: true, settlement },
      { service: serviceId, settled: false, settlement: answers[0]!.settlement },
    ]);
    expect(await settlements(serviceId)).toEqual([
      { actor: 'cli', detail: { credit: '-7.500000', currency: 'USD', note: 'refunded on credit note 77', adjustmentId: `settle-${serviceId}-1` } },
    ]);
    expect((await pending(serviceId)).sort()).toEqual(['-7.500000', '7.500000']);

    const human = await cli('billing', 'settle', '--service', String(serviceId), '--note', 'refunded on credit note 77');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(`^service ${serviceId}: nothing left to settle; its credit -7.500000 USD was recorded as settled on .+ \\(settle-${serviceId}-1\\): refunded on credit note 77`),
    );
    expect(await settlements(serviceId)).toHaveLength(1);

    // Nothing of its billing holds it any longer (this kit's tenant is no provisioned one: the purge itself is purge-terminated's test).
    const reasons = (await purgeTerminatedTenants(kit.deps, later)).waiting.filter((held) => held.serviceId === serviceId).map((held) => held.reason);
    expect(reasons.filter((reason) => /credit|not billed|not synced/.test(reason))).toEqual([]);
  }, 60000);

  it('credits in two currencies: refused without --currency (naming each), then settled one currency at a time; the purge names both until then', async () => {
    const { serviceId } = await kit.addTenant();
    await credit(serviceId, '-2.000000', `usd-${serviceId}`);
    await insertAdjustment(kit.deps.pool, {
      adjustmentId: `eur-${serviceId}`,
      serviceId,
      kind: 'manual',
      amount: '-3.000000',
      currency: 'EUR',
      sourcePeriod: null,
      description: 'goodwill',
    });
    await terminate(serviceId);
    await syncTenantCdrs(kit.deps, serviceId);
    await kit.deps.pool.query(`UPDATE services SET updated_at = now() - interval '40 days' WHERE service_id = $1`, [serviceId]);
    const later = new Date(Date.now() + 31 * 86400_000);
    const reasons = async () => (await purgeTerminatedTenants(kit.deps, later)).waiting.filter((held) => held.serviceId === serviceId).map((held) => held.reason);
    expect(await reasons()).toEqual([`credit -3.000000 EUR, -2.000000 USD left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId} --currency <each>\``]);

    const settle = (...more: string[]) => cli('billing', 'settle', '--service', String(serviceId), '--note', 'refunded', '--json', ...more);
    expectRefused(await settle(), 'CREDIT_CURRENCIES_MIXED', /-3\.000000 EUR, -2\.000000 USD/);
    const usd = await settle('--currency', 'usd');
    expect({ code: usd.code, settlement: usd.json.settlement }).toMatchObject({
      code: 0,
      settlement: { credit: '-2.000000', currency: 'USD', adjustmentId: `settle-${serviceId}-1` },
    });
    expect(await reasons()).toEqual([`credit -3.000000 EUR left: settle it in WHMCS, then \`ictvoip billing settle --service ${serviceId}\``]);
    const eur = await settle('--currency', 'EUR');
    expect({ code: eur.code, settlement: eur.json.settlement }).toMatchObject({
      code: 0,
      settlement: { credit: '-3.000000', currency: 'EUR', adjustmentId: `settle-${serviceId}-2` },
    });
    expect((await pending(serviceId)).sort()).toEqual(['-2.000000', '-3.000000', '2.000000', '3.000000']);
    expect((await reasons()).filter((reason) => /credit|not billed/.test(reason))).toEqual([]);
    expect((await cli('billing', 'settle', '--service', String(serviceId), '--note', 'x', '--currency', 'euro')).code).not.toBe(0);
  }, 60000);
});
