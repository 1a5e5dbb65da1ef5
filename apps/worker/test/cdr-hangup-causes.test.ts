/**
 * BILLING_HANGUP_CAUSES: which answered calls are billed by the cause they ended with. By default an
 * answered call that ended on, e.g., a SIP timer (RECOVERY_ON_TIMER_EXPIRE) is stored not billable,
 * as the README says; `*` bills every answered call.
 */
import { SUSPEND_HANGUP_CAUSE } from '@ictvoip/rating';
import { listCharges } from '@ictvoip/store';
import { syncTenantCdrs } from '../src';
import { expectedMicro, microToDecimal, startBillingKit, type BillingKit } from './cdr-billing-kit';

const CALLS = [
  { hangupCause: 'NORMAL_CLEARING', destination: '12125550100', billsec: 300 },
  { hangupCause: 'RECOVERY_ON_TIMER_EXPIRE', destination: '12125550101', billsec: 300 },
  { hangupCause: 'MANAGER_REQUEST', destination: '12125550102', billsec: 300 },
];

async function chargesOf(kit: BillingKit): Promise<[string, string | null, string | null][]> {
  const tenant = await kit.addTenant();
  for (const [index, call] of CALLS.entries()) await kit.insertCdr(tenant, { start: `2025-02-10T10:0${index}:00Z`, ...call });
  await syncTenantCdrs(kit.deps, tenant.serviceId);
  const charges = await listCharges(kit.deps.pool, { serviceId: tenant.serviceId });
  return charges
    .map((charge): [string, string | null, string | null] => [(charge.destination ?? '').replace(/^\+/, ''), charge.amount, charge.reason])
    .sort((a, b) => a[0].localeCompare(b[0]));
}

const amount = (e164: string) => microToDecimal(expectedMicro(e164, 300));

test('by default only the listed causes are billed: a call cut by a SIP timer or by an operator is stored not billable, with that reason', async () => {
  const kit = await startBillingKit();
  try {
    expect(await chargesOf(kit)).toEqual([
      ['12125550100', amount('12125550100'), null],
      ['12125550101', null, 'HANGUP_CAUSE_NOT_BILLABLE'],
      ['12125550102', null, 'HANGUP_CAUSE_NOT_BILLABLE'],
    ]);
  } finally {
    await kit.close();
  }
});

test('BILLING_HANGUP_CAUSES=* bills every answered call, whatever it ended with', async () => {
  const kit = await startBillingKit({ BILLING_HANGUP_CAUSES: '*' });
  try {
    expect(await chargesOf(kit)).toEqual(CALLS.map((call) => [call.destination, amount(call.destination), null]));
  } finally {
    await kit.close();
  }
});

/**
 * A transfer ends the transferring party's channel with a transfer cause, not NORMAL_CLEARING
 * (FreeSWITCH: switch_ivr_session_transfer hangs up the other channel of the bridge with
 * BLIND_TRANSFER; mod_sofia's REFER with Replaces hangs up the transferor with ATTENDED_TRANSFER).
 * An extension that calls out and transfers the outside party to a colleague leaves its a-leg,
 * answered and carried (the carrier bills it), ending with one of them.
 */
test('an answered outbound call its caller transferred (blind or attended) is billed by default, for the seconds until the transfer', async () => {
  const kit = await startBillingKit();
  try {
    const tenant = await kit.addTenant();
    const blind = await kit.insertCdr(tenant, { start: '2025-02-10T10:00:00Z', destination: '12125550110', billsec: 185, hangupCause: 'BLIND_TRANSFER' });
    const attended = await kit.insertCdr(tenant, { start: '2025-02-10T10:05:00Z', destination: '12125550111', billsec: 61, hangupCause: 'ATTENDED_TRANSFER' });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const charges = new Map((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => [charge.xmlCdrUuid, charge]));
    // 1212 at 0.013700 a minute, 60/60: 185 s is 4 minutes, 61 s is 2.
    expect([charges.get(blind)?.status, charges.get(blind)?.amount, charges.get(blind)?.reason]).toEqual(['rated', '0.054800', null]);
    expect([charges.get(attended)?.status, charges.get(attended)?.amount, charges.get(attended)?.reason]).toEqual(['rated', '0.027400', null]);
  } finally {
    await kit.close();
  }
});

/**
 * Suspend and terminate end a tenant's calls in progress with SUSPEND_HANGUP_CAUSE (`uuid_kill`). Such a
 * call was answered and carried until then (the carrier bills it), so its answered seconds are billed,
 * also under a BILLING_HANGUP_CAUSES list written without that cause.
 */
test.each([
  ['the default causes', {}],
  ['a list without it', { BILLING_HANGUP_CAUSES: 'NORMAL_CLEARING' }],
])('an answered call cut by a suspend is billed for its answered seconds (%s)', async (_label, env: Record<string, string>) => {
  const kit = await startBillingKit(env);
  try {
    const tenant = await kit.addTenant();
    const cut = await kit.insertCdr(tenant, { start: '2025-02-10T10:00:00Z', destination: '12125550120', billsec: 185, hangupCause: SUSPEND_HANGUP_CAUSE });
    const operator = await kit.insertCdr(tenant, { start: '2025-02-10T10:05:00Z', destination: '12125550121', billsec: 185, hangupCause: 'MANAGER_REQUEST' });
    await syncTenantCdrs(kit.deps, tenant.serviceId);
    const charges = new Map((await listCharges(kit.deps.pool, { serviceId: tenant.serviceId })).map((charge) => [charge.xmlCdrUuid, charge]));
    // 1212 at 0.013700 a minute, 60/60: 185 s is 4 minutes.
    expect([charges.get(cut)?.status, charges.get(cut)?.amount, charges.get(cut)?.reason]).toEqual(['rated', '0.054800', null]);
    // An operator's own hangup (fs_cli, FusionPBX's active-calls page) stays as BILLING_HANGUP_CAUSES says.
    expect(charges.get(operator)?.reason).toBe('HANGUP_CAUSE_NOT_BILLABLE');
  } finally {
    await kit.close();
  }
});
