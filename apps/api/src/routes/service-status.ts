import { findTenantDomain, tenantCounts } from '@ictvoip/fusionpbx';
import { callsOnPrepaidInvoices } from '@ictvoip/operations';
import { formatMoney, parseMoney } from '@ictvoip/rating';
import {
  chargeTotals,
  pendingAdjustmentsPeriod,
  periodBill,
  servicePeriodsOf,
  ServicesRepository,
  TenantWritesRepository,
  type AdjustmentSum,
  type FreeswitchBacklog,
} from '@ictvoip/store';
import type { TenantCommand } from '@ictvoip/whmcs';
import type { ApiDeps, ScopedApiDeps } from '../deps';
import { liveRegistrations } from './v1/registrations';
import { scopeForEvent } from '../fusion-scope';

export interface Usage {
  period: string;
  calls: number;
  minutes: number;
  includedMinutes?: number;
  /** the period's rated calls */
  amount: string;
  /**
   * adjustments and credits on the period's bill (periodBill): its batch's, or those pending when its bill is the one that
   * takes them; those in `currency` (and any recorded with no currency) only: a bill takes only its own currency's, and a sum
   * across currencies shown under one label is wrong (-5.00 EUR beside 3.00 USD is not "-2.00 USD"). All of them per currency:
   * `adjustmentsByCurrency`.
   */
  adjustments: string;
  /** the same adjustments, one line per currency (null: recorded with none), exact decimals; empty when none */
  adjustmentsByCurrency: AdjustmentSum[];
  /** what the period's bill comes to before the invoice line's rounding to cents: its batch's total once made, else amount + adjustments */
  total: string;
  /** the currency of the period's calls; with none, that of its adjustments when they are in one */
  currency: string;
  unratedCalls: number;
}

interface RegistrationLine {
  extension: string;
  userAgent: string;
  address: string;
  status: string;
}

export interface ServiceStatusReply {
  result: 'success';
  message: string;
  adminFields: Record<string, string>;
  templateVariables: { usage: Usage | null; registrations: RegistrationLine[]; registrationsUnavailable: boolean };
}

/** A period's rated usage; the period running now when none is named. Shared with the WHMCS client area. */
export async function usageOf(deps: ApiDeps, serviceId: number, plan: Record<string, unknown> | undefined, named?: string): Promise<Usage> {
  const includedMinutes = plan?.includedMinutes;
  // The period running now: a calendar month, or the service's own cycle period (BILLING_PERIODS=service).
  const now = deps.now?.() ?? new Date();
  const period = named ?? (await servicePeriodsOf(deps.pool, serviceId, deps.config.billing))(now);
  const totals = await chargeTotals(deps.pool, serviceId, period);
  // A prepaid service's calls go on prepaid invoices, never in the close's batch: counted as the close counts them.
  const prepaid = plan !== undefined && callsOnPrepaidInvoices(deps.config, plan);
  const pendingPeriod = await pendingAdjustmentsPeriod(deps.pool, serviceId, now, { ...deps.config.billing, callsOnPrepaidInvoices: prepaid });
  const bill = await periodBill(deps.pool, serviceId, period, { pending: period === pendingPeriod });
  const { rows } = await deps.pool.query<{ seconds: string; currency: string | null }>(
    `SELECT COALESCE(sum(billable_seconds), 0)::text AS seconds, max(currency) AS currency
     FROM cdr_charges WHERE service_id = $1 AND period = $2 AND status = 'rated'`,
    [serviceId, period],
  );
  const currencies = [...new Set(bill.adjustments.flatMap((sum) => (sum.currency === null ? [] : [sum.currency])))];
  const currency = rows[0]?.currency?.trim() ?? (currencies.length === 1 ? currencies[0]! : '');
  // A made bill's adjustments are all of its one currency; pending ones count toward `total` only in the calls' currency.
  const own = bill.total !== null ? bill.adjustments : bill.adjustments.filter((sum) => sum.currency === null || sum.currency.toUpperCase() === currency.toUpperCase());
  const adjustments = own.reduce((acc, sum) => acc + parseMoney(sum.amount, { allowNegative: true }), 0n);
  const usage: Usage = {
    period,
    calls: totals.rated,
    minutes: Math.ceil(Number(rows[0]?.seconds ?? '0') / 60),
    amount: totals.ratedAmount,
    adjustments: formatMoney(adjustments),
    adjustmentsByCurrency: bill.adjustments,
    total: bill.total ?? formatMoney(parseMoney(totals.ratedAmount) + adjustments),
    currency,
    unratedCalls: totals.unrated,
  };
  if (typeof includedMinutes === 'number') usage.includedMinutes = includedMinutes;
  return usage;
}

async function registrationsOf(deps: ScopedApiDeps, domainName: string): Promise<RegistrationLine[] | null> {
  try {
    const live = await liveRegistrations(deps, domainName);
    return live.registrations.map((r) => ({
      extension: r.extension,
      userAgent: r.userAgent ?? '',
      address: r.networkIp ? `${r.networkIp}:${r.networkPort ?? ''}` : '',
      status: r.status ?? '',
    }));
  } catch {
    // The page still shows the rest when FreeSWITCH does not answer in time.
    return null;
  }
}

/**
 * What the admin tab says of the FreeSWITCH side: in step, or exactly what is pending since when and
 * why; and the global gateway writes its server still owes (every tenant there routes through them).
 */
function freeswitchState(backlog: FreeswitchBacklog | null, global: { count: number; oldestSince: Date | null }): string {
  const owedGlobal =
    global.count > 0
      ? `${global.count} global gateway write(s) owed on this server since ${global.oldestSince!.toISOString()}, applied automatically once the event socket answers`
      : null;
  if (!backlog) return owedGlobal ? `tenant up to date; ${owedGlobal}` : 'up to date';
  const why = backlog.lastError ? `; last error: ${backlog.lastError}` : '';
  return `pending since ${backlog.since}: ${backlog.steps.length} step(s) of ${backlog.events.length} event(s), applied automatically once the event socket answers${why}${owedGlobal ? `; ${owedGlobal}` : ''}`;
}

/**
 * The `status` action: a read for WHMCS's admin service tab and the client area. Synchronous and
 * read-only, so it never enters the inbox or the queue.
 */
export async function serviceStatus(base: ApiDeps, event: TenantCommand): Promise<ServiceStatusReply> {
  const serviceId = event.service.id;
  const service = await new ServicesRepository(base.pool).get(serviceId);
  // The tenant's own server; a service the bridge does not know yet is looked for where its create would go.
  const deps = await scopeForEvent(base, service, event);
  const domain = await findTenantDomain(deps.fusion.pool, serviceId);
  if (!service && !domain) {
    return {
      result: 'success',
      message: 'not provisioned',
      adminFields: { 'PBX tenant': 'not provisioned yet' },
      templateVariables: { usage: null, registrations: [], registrationsUnavailable: false },
    };
  }
  const [counts, usage, registrations, globalApplies] = await Promise.all([
    domain ? tenantCounts(deps.fusion.pool, domain.domainUuid) : Promise.resolve(null),
    usageOf(deps, serviceId, service?.plan),
    domain ? registrationsOf(deps, domain.domainName) : Promise.resolve([]),
    new TenantWritesRepository(base.pool).globalAppliesOwedOn(deps.fusion.storedName),
  ]);
  const maxExtensions = service?.plan.maxExtensions;
  const adminFields: Record<string, string> = {
    'PBX domain': domain?.domainName ?? service?.tenantDomain ?? '—',
    'State (WHMCS / FusionPBX)': `${service?.desiredState ?? '—'} / ${service?.observedState ?? '—'}`,
    Generation: String(service?.generation ?? '—'),
    'Extensions enabled / plan': counts ? `${counts.enabledExtensions} of ${counts.extensions} / ${maxExtensions ?? '—'}` : '—',
    Gateways: counts ? `${counts.enabledGateways} enabled of ${counts.gateways}` : '—',
    'FreeSWITCH apply': freeswitchState(service?.pendingApply ?? null, globalApplies),
    [`Usage ${usage.period}`]: `${usage.calls} calls, ${usage.minutes} min, ${usage.amount}${usage.currency ? ` ${usage.currency}` : ''}${usage.unratedCalls ? `, ${usage.unratedCalls} unrated` : ''}`,
    'Registered phones': registrations === null ? 'event socket not answering' : String(registrations.length),
  };
  return {
    result: 'success',
    message: 'status',
    adminFields,
    templateVariables: { usage, registrations: registrations ?? [], registrationsUnavailable: registrations === null },
  };
}
