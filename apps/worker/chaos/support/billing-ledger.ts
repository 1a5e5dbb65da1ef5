import { randomUUID } from 'node:crypto';
import { batchIdFor, importRateDeck, pushTokenFor } from '@ictvoip/store';
import type { WhmcsStandin } from '@ictvoip/testkit';
import type { ChaosBridge } from './chaos-bridge';
import type { ConsistencyReport } from './consistency';

/**
 * The calls, rate deck and billing end-state check shared by the billing chaos scenario and the soak:
 * expected amounts are computed from the deck lines here, never from the bridge.
 */

/** The deck the workers rate with. */
export const DECK_LINES = [
  ['1', 'USA', '0.010000'],
  ['1212', 'USA New York', '0.013700'],
  ['44', 'United Kingdom', '0.018300'],
  ['49', 'Germany', '0.021000'],
  ['4930', 'Germany Berlin', '0.019100'],
] as const;
const DECK_CSV = ['prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment', ...DECK_LINES.map((line) => `${line.join(',')},0,60,60`)].join('\n');
/** Dialled numbers (as FusionPBX stores them for a US tenant) and the E.164 digits the deck sees. */
export const DESTINATIONS = [
  { dialled: '12125550100', e164: '12125550100' },
  { dialled: '13055550123', e164: '13055550123' },
  { dialled: '011442071234567', e164: '442071234567' },
  { dialled: '0114930123456', e164: '4930123456' },
  { dialled: '0114989123456', e164: '4989123456' },
] as const;

export function decimalToMicro(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  const micro = BigInt(whole ?? '0') * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
  return negative ? -micro : micro;
}

export function expectedMicro(e164: string, billsec: number): bigint {
  const best = DECK_LINES.filter(([prefix]) => e164.startsWith(prefix)).sort((a, b) => b[0].length - a[0].length)[0];
  if (!best) throw new Error(`no deck line for ${e164}`);
  return billsec <= 0 ? 0n : BigInt(Math.ceil(billsec / 60)) * decimalToMicro(best[2]);
}

/** The calendar month before `now` (UTC): the one the workers close once the close delay allows. */
export function previousMonth(now: Date): { period: string; start: Date } {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return { period: `${start.getUTCFullYear()}-${String(start.getUTCMonth() + 1).padStart(2, '0')}`, start };
}

export interface BillingTenant {
  serviceId: number;
  clientId: number;
  domainUuid: string;
  domainName: string;
  /** Price of the calls of the billed period, in micro-units. */
  expected: bigint;
  /** Calls of the billed period. */
  calls: number;
}

export interface SeededCall {
  xmlCdrUuid: string;
  expected: bigint;
}

/** Imports the deck as `std` (US numbering plan). */
export async function importChaosDeck(bridge: ChaosBridge): Promise<void> {
  const imported = await importRateDeck(bridge.bridge, 'std', DECK_CSV, {
    currency: 'USD',
    numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] },
  });
  if (!imported.ok) throw new Error('chaos deck did not import');
}

/** One seeded outbound call of 1 to `maxBillsec` seconds into `v_xml_cdr`, the way FusionPBX stores it; returns its id and price. */
export async function insertCall(
  bridge: ChaosBridge,
  tenant: Pick<BillingTenant, 'domainUuid' | 'domainName'>,
  random: () => number,
  startAt: (billsec: number) => Date,
  maxBillsec = 900,
): Promise<SeededCall> {
  const destination = DESTINATIONS[Math.floor(random() * DESTINATIONS.length)]!;
  const billsec = 1 + Math.floor(random() * maxBillsec);
  const startStamp = startAt(billsec);
  const xmlCdrUuid = randomUUID();
  await bridge.fusion.query(
    `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
     VALUES ($1, $2, $3, 'outbound', 'a', $4, $4, $5, $6, 'NORMAL_CLEARING')`,
    [xmlCdrUuid, tenant.domainUuid, tenant.domainName, destination.dialled, startStamp, billsec],
  );
  return { xmlCdrUuid, expected: expectedMicro(destination.e164, billsec) };
}

/**
 * `count` postpaid tenants on the `std` deck (service ids from `firstServiceId`, a WHMCS client and
 * service each, a FusionPBX domain, created the day before `monthStart`), each with `calls` seeded
 * calls at random moments of the month that starts at `monthStart`.
 */
export async function seedBillingTenants(
  bridge: ChaosBridge,
  whmcs: WhmcsStandin,
  random: () => number,
  options: { firstServiceId: number; count: number; calls: number; monthStart: Date },
): Promise<BillingTenant[]> {
  await importChaosDeck(bridge);
  const tenants: BillingTenant[] = [];
  for (let t = 0; t < options.count; t += 1) {
    const serviceId = options.firstServiceId + t;
    const client = whmcs.addClient();
    whmcs.addService({ id: serviceId, clientid: client.id });
    const domainName = `t${serviceId}.pbx.example.net`;
    const domainUuid = randomUUID();
    await bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [domainUuid, domainName]);
    await bridge.bridge.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan, created_at) VALUES ($1, $2, $3, 'active', $4, $5)`, [
      serviceId,
      client.id,
      domainName,
      JSON.stringify({ rateDeck: 'std', includedMinutes: 0 }),
      new Date(options.monthStart.getTime() - 86400_000),
    ]);
    const tenant: BillingTenant = { serviceId, clientId: client.id, domainUuid, domainName, expected: 0n, calls: options.calls };
    for (let c = 0; c < options.calls; c += 1) {
      const startAt = () => new Date(options.monthStart.getTime() + Math.floor(random() * 27 * 86400) * 1000);
      tenant.expected += (await insertCall(bridge, tenant, random, startAt)).expected;
    }
    tenants.push(tenant);
  }
  return tenants;
}

export async function countRated(bridge: ChaosBridge): Promise<number> {
  return (await bridge.bridge.query<{ n: number }>(`SELECT count(*)::int AS n FROM cdr_charges WHERE status = 'rated'`)).rows[0]?.n ?? 0;
}

export async function finishedBatches(bridge: ChaosBridge): Promise<number> {
  return (await bridge.bridge.query<{ n: number }>(`SELECT count(*)::int AS n FROM billing_batches WHERE state IN ('pushed', 'verified')`)).rows[0]?.n ?? 0;
}

/**
 * Each seeded call has exactly one charge, rated, at the deck's price (the charge's primary key is
 * the CDR's id, so "exactly one" is "present"): lost = calls with no charge, problems = any other.
 */
export async function checkCharges(bridge: ChaosBridge, calls: readonly SeededCall[]): Promise<{ lost: number; problems: string[] }> {
  const problems: string[] = [];
  const rows = new Map(
    (
      await bridge.bridge.query<{ id: string; status: string; amount: string | null }>(
        `SELECT xml_cdr_uuid::text AS id, status, amount::numeric(18,6)::text AS amount FROM cdr_charges WHERE xml_cdr_uuid = ANY($1::uuid[])`,
        [calls.map((call) => call.xmlCdrUuid)],
      )
    ).rows.map((row) => [row.id, row]),
  );
  let lost = 0;
  for (const call of calls) {
    const row = rows.get(call.xmlCdrUuid);
    if (!row) {
      lost += 1;
      problems.push(`call ${call.xmlCdrUuid}: no charge`);
    } else if (row.status !== 'rated' || row.amount === null || decimalToMicro(row.amount) !== call.expected) {
      problems.push(`call ${call.xmlCdrUuid}: ${row.status} ${row.amount}, the deck prices it at ${call.expected} micro-units`);
    }
  }
  return { lost, problems };
}

/**
 * The billing end state of `period`, tenant by tenant: lost = rated calls of the period in no batch
 * + tenants with no WHMCS line; doubled = WHMCS lines beyond the first per token; problems = any
 * amount not exact.
 */
export async function checkBilling(bridge: ChaosBridge, whmcs: WhmcsStandin, tenants: BillingTenant[], period: string): Promise<ConsistencyReport> {
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  const unbilled = (
    await bridge.bridge.query<{ service_id: string; n: number }>(
      `SELECT service_id, count(*)::int AS n FROM cdr_charges WHERE status = 'rated' AND batch_id IS NULL AND period = $1 GROUP BY 1`,
      [period],
    )
  ).rows;
  for (const row of unbilled) {
    lost += row.n;
    problems.push(`service ${row.service_id}: ${row.n} rated calls in no batch`);
  }
  const notRated = (await bridge.bridge.query<{ n: number }>(`SELECT count(*)::int AS n FROM cdr_charges WHERE status <> 'rated'`)).rows[0]?.n ?? 0;
  if (notRated > 0) problems.push(`${notRated} charges not rated`);
  for (const tenant of tenants)
    problems.push(
      ...(await checkTenantBill(
        bridge,
        whmcs,
        tenant,
        period,
        (n) => (lost += n),
        (n) => (doubled += n),
      )),
    );
  const events = tenants.reduce((sum, tenant) => sum + tenant.calls, 0);
  return { events, services: tenants.length, lost, doubled, problems };
}

async function sumOf(bridge: ChaosBridge, sql: string, params: unknown[]): Promise<string> {
  return (await bridge.bridge.query<{ amount: string }>(sql, params)).rows[0]?.amount ?? '0';
}

/** One tenant's WHMCS line for `period`: present once, on its own client, equal to its calls' price less the carried remainder. */
async function checkTenantBill(
  bridge: ChaosBridge,
  whmcs: WhmcsStandin,
  tenant: BillingTenant,
  period: string,
  addLost: (n: number) => void,
  addDoubled: (n: number) => void,
): Promise<string[]> {
  const problems: string[] = [];
  const batchId = batchIdFor(tenant.serviceId, period);
  const token = pushTokenFor(batchId);
  const items = whmcs.state.billableItems.filter((item) => item.description.includes(token));
  if (items.some((item) => item.clientid !== tenant.clientId)) problems.push(`service ${tenant.serviceId}: its token is on another client's line`);
  if (items.length === 0) {
    addLost(1);
    return [...problems, `service ${tenant.serviceId}: no WHMCS line with ${token}`];
  }
  if (items.length > 1) {
    addDoubled(items.length - 1);
    problems.push(`service ${tenant.serviceId}: ${items.length} WHMCS lines with ${token}`);
  }
  const charged = await sumOf(
    bridge,
    `SELECT COALESCE(sum(amount), 0)::numeric(18,6)::text AS amount FROM cdr_charges WHERE service_id = $1 AND status = 'rated' AND period = $2`,
    [tenant.serviceId, period],
  );
  const carried = await sumOf(bridge, `SELECT COALESCE(sum(amount), 0)::numeric(18,6)::text AS amount FROM billing_adjustments WHERE service_id = $1 AND batch_id IS NULL`, [
    tenant.serviceId,
  ]);
  if (decimalToMicro(charged) !== tenant.expected) problems.push(`service ${tenant.serviceId}: rated ${charged}, the input prices to ${tenant.expected} micro-units`);
  const billed = decimalToMicro(items[0]!.amount);
  if (billed + decimalToMicro(carried) !== tenant.expected)
    problems.push(`service ${tenant.serviceId}: billed ${items[0]!.amount} + carried ${carried} != ${tenant.expected} micro-units`);
  const batch = (
    await bridge.bridge.query<{ state: string; whmcs_billable_id: string | null; call_count: number }>(
      `SELECT state, whmcs_billable_id::text, call_count FROM billing_batches WHERE batch_id = $1`,
      [batchId],
    )
  ).rows[0];
  if (batch?.state !== 'pushed' && batch?.state !== 'verified') problems.push(`service ${tenant.serviceId}: batch ${batchId} is ${batch?.state ?? 'missing'}`);
  if (batch && batch.call_count !== tenant.calls) problems.push(`service ${tenant.serviceId}: batch has ${batch.call_count} calls, ${tenant.calls} were made`);
  if (batch?.whmcs_billable_id && Number(batch.whmcs_billable_id) !== items[0]!.id)
    problems.push(`service ${tenant.serviceId}: batch records WHMCS item ${batch.whmcs_billable_id}, the line is ${items[0]!.id}`);
  return problems;
}

/** How many times each value occurs (WHMCS calls by action, faults by mode). */
export function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
