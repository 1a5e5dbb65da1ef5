import type { Pool } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';
import { formatMoney, parseMoney } from '@ictvoip/rating';
import {
  billingPeriodsMode,
  getCreditState,
  latestClosedServicePeriod,
  localDateOf,
  serviceCycleSegments,
  servicePeriodOfDate,
  ServicesRepository,
  type BillingPeriodsMode,
  type CreditStateRecord,
  type ServicePeriod,
  type StoredCycleSegment,
} from '@ictvoip/store';

/**
 * Whether a service's calls are billed on prepaid invoices: a prepaid plan, the WHMCS API configured
 * and the cadence on (CREDIT_PREPAID_INVOICE_EVERY_SECONDS > 0). Then its period batch never takes
 * calls (only adjustments): the period's calls not yet on a daily invoice go on its closing invoice.
 * The worker's close and `billing close --dry-run` decide with this one function.
 */
export function callsOnPrepaidInvoices(config: Pick<BridgeConfig, 'whmcs' | 'credit'>, plan: Record<string, unknown>): boolean {
  const whmcs = Boolean(config.whmcs.apiUrl && config.whmcs.identifier && config.whmcs.secret);
  return plan.billingMode === 'prepaid' && whmcs && config.credit.prepaidInvoiceEverySeconds > 0;
}

/** A service's billing as the bridge applies it now: its mode and credit settings, credit state and cycle period. */
export interface ServiceBillingView {
  serviceId: number;
  clientId: number;
  billingMode: 'prepaid' | 'postpaid';
  /** prepaid, or postpaid with a credit limit */
  creditControlled: boolean;
  /** the plan's amounts, exact decimals (6 places); null when the plan sets none */
  creditLimit: string | null;
  lowBalanceThreshold: string | null;
  creditRestriction: 'suspend' | 'outbound';
  /** the last check's record (state, figures, who restricted it); null when never checked */
  credit: CreditStateRecord | null;
  periods: {
    mode: BillingPeriodsMode;
    /** the recorded WHMCS cycle segments (service mode; empty = calendar months until one is recorded) */
    segments: StoredCycleSegment[];
    /** the period running now and the latest closed one (labels as in batches and tokens) */
    current: ServicePeriod;
    latestClosed: string;
  };
}

export class ServiceUnknownError extends Error {
  readonly code = 'UNKNOWN_SERVICE';
  constructor(serviceId: number) {
    super(`service ${serviceId} is not known to the bridge`);
    this.name = 'ServiceUnknownError';
  }
}

function planAmount(plan: Record<string, unknown>, key: string): string | null {
  const value = plan[key];
  if (typeof value !== 'string' || value.trim() === '') return null;
  try {
    return formatMoney(parseMoney(value.trim(), { field: key, rounding: 'half-up' }));
  } catch {
    return null;
  }
}

/** Reads (never writes, never calls WHMCS) what `credit show` and `billing cycle` print. */
export async function serviceBillingView(
  pool: Pool,
  billing: Pick<BridgeConfig['billing'], 'timeZone' | 'closeDelaySeconds' | 'periods'>,
  serviceId: number,
  now = new Date(),
): Promise<ServiceBillingView> {
  const service = await new ServicesRepository(pool).get(serviceId);
  if (!service) throw new ServiceUnknownError(serviceId);
  const plan = service.plan;
  const billingMode = plan.billingMode === 'prepaid' ? 'prepaid' : 'postpaid';
  const creditLimit = billingMode === 'postpaid' ? planAmount(plan, 'creditLimit') : null;
  const mode = await billingPeriodsMode(pool, billing.periods);
  const segments = mode === 'service' ? await serviceCycleSegments(pool, serviceId) : [];
  return {
    serviceId,
    clientId: service.clientId,
    billingMode,
    creditControlled: billingMode === 'prepaid' || creditLimit !== null,
    creditLimit,
    lowBalanceThreshold: planAmount(plan, 'lowBalanceThreshold'),
    creditRestriction: plan.creditRestriction === 'outbound' ? 'outbound' : 'suspend',
    credit: await getCreditState(pool, serviceId),
    periods: {
      mode,
      segments,
      // No segment = calendar months, as the rating does.
      current: servicePeriodOfDate(localDateOf(now, billing.timeZone), segments),
      latestClosed: latestClosedServicePeriod(now, billing.timeZone, billing.closeDelaySeconds, segments),
    },
  };
}
