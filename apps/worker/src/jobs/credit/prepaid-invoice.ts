import type { PoolClient } from 'pg';
import { addJobs, CREDIT_JOBS, prepaidInvoiceJobId, type TypedJob } from '@ictvoip/queue';
import { callsOnPrepaidInvoices, currencyMismatch, forgetClientDetails } from '@ictvoip/operations';
import { formatMoney, parseMoney } from '@ictvoip/rating';
import {
  createPrepaidInvoice,
  listPrepaidInvoices,
  openPrepaidInvoice,
  prepaidCloseKey,
  recordPrepaidCurrencyMismatch,
  reportPrepaidCurrenciesMixed,
  servicesToInvoicePrepaid,
  updatePrepaidInvoice,
  withBillingLock,
  type PrepaidInvoice,
} from '@ictvoip/store';
import { WhmcsApiError, WhmcsInputError, WhmcsTransportError, type WhmcsApiClient } from '@ictvoip/whmcs';
import type { WorkerDeps } from '../../deps';
import { describeError } from '../../errors';

const CENT = 10_000n;

/** Test seams: throwing from one simulates a crash at that exact point. */
export interface PrepaidHooks {
  /** after WHMCS made the invoice, before its id is recorded */
  afterCreateInvoice?: (invoice: PrepaidInvoice) => void | Promise<void>;
  /** after WHMCS applied credit, before it is recorded */
  afterApplyCredit?: (invoice: PrepaidInvoice) => void | Promise<void>;
}

export interface PrepaidOutcome {
  serviceId: number;
  outcome: 'not-prepaid' | 'whmcs-not-configured' | 'nothing' | 'creating' | 'unknown' | 'created' | 'paid' | 'abandoned';
  invoiceKey: string | null;
}

/** The day (YYYY-MM-DD) of `at` in the billing time zone: one prepaid invoice per service and day. */
export function billingDay(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(at);
  const part = (type: string) => parts.find((candidate) => candidate.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}

/**
 * CreateInvoice exactly once: the token is looked for first (an earlier attempt whose answer was
 * lost made it already); an outcome-unknown failure is marked `unknown` and only sent again once
 * the token is provably absent after twice the WHMCS timeout.
 */
async function ensureCreated(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, invoice: PrepaidInvoice, hooks?: PrepaidHooks): Promise<PrepaidInvoice | null> {
  const found = await whmcs.findInvoiceByToken(invoice.clientId, invoice.token);
  if (found) return updatePrepaidInvoice(client, invoice.invoiceKey, ['creating', 'unknown'], { state: 'created', whmcsInvoiceId: found.id });
  if (invoice.state === 'unknown' && Date.now() - invoice.updatedAt.getTime() < 2 * deps.config.whmcs.timeoutMs) return invoice;
  // CreateInvoice has no currency: WHMCS reads the amount in the client's, so it must be the deck's (as a batch's push checks).
  const pays = (await whmcs.getClientsDetails(invoice.clientId)).currencyCode;
  const mismatch = currencyMismatch(invoice.clientId, pays, [invoice.currency], 'the calls are rated in');
  if (mismatch) {
    const reason = `${mismatch.code}: ${mismatch.message}`;
    await updatePrepaidInvoice(client, invoice.invoiceKey, ['creating', 'unknown'], { state: invoice.state, lastError: reason, attempt: true });
    // Every run finds the same until the client's currency is changed: said once per invoice, not at every run.
    if (await recordPrepaidCurrencyMismatch(client, invoice, pays ?? null, invoice.currency))
      deps.logger.error(
        { code: mismatch.code, invoiceKey: invoice.invoiceKey, serviceId: invoice.serviceId, clientId: invoice.clientId, pays, rated: invoice.currency },
        "ALERT prepaid invoice not made: the client pays in another currency than its calls'; it stays creating until the client's currency is changed in WHMCS, or it is released (ictvoip billing prepaid-release <invoiceKey>) and its calls re-rated in the client's currency",
      );
    return null;
  }
  let invoiceId: number;
  try {
    ({ invoiceId } = await whmcs.createInvoice({
      userId: invoice.clientId,
      items: [{ description: invoice.description, amount: invoice.lineAmount }],
      notes: invoice.token,
      sendInvoice: false,
    }));
  } catch (error) {
    const unknown = error instanceof WhmcsTransportError && error.mayHaveTakenEffect;
    await updatePrepaidInvoice(client, invoice.invoiceKey, ['creating', 'unknown'], { state: unknown ? 'unknown' : invoice.state, lastError: describeError(error), attempt: true });
    deps.logger.warn(
      { invoiceKey: invoice.invoiceKey, err: describeError(error) },
      unknown ? 'prepaid invoice outcome unknown: found by its token later' : 'prepaid invoice refused',
    );
    return null;
  }
  await hooks?.afterCreateInvoice?.(invoice);
  return updatePrepaidInvoice(client, invoice.invoiceKey, ['creating', 'unknown'], { state: 'created', whmcsInvoiceId: invoiceId });
}

/**
 * Pays the invoice from the client's credit, as far as it goes: the invoice's balance is read first,
 * so credit applied by an attempt whose answer was lost is never applied again (WHMCS refuses more
 * than the balance anyway). Without enough credit it stays `created` (unpaid in WHMCS) and is tried again.
 */
async function payFromCredit(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, invoice: PrepaidInvoice, hooks?: PrepaidHooks): Promise<PrepaidInvoice | null> {
  const invoiceId = invoice.whmcsInvoiceId ?? 0;
  const current = await whmcs.getInvoice(invoiceId);
  const balance = parseMoney(current.balance, { allowNegative: true });
  if (current.status === 'Paid' || balance <= 0n) return updatePrepaidInvoice(client, invoice.invoiceKey, ['created'], { state: 'paid', creditApplied: current.credit });
  const credit = parseMoney((await whmcs.getClientCredit(invoice.clientId)).credit, { allowNegative: true, rounding: 'half-up' });
  // Whole cents (rounded down), never more than the credit nor the balance.
  const usable = credit < balance ? credit : balance;
  const amount = usable > 0n ? usable - (usable % CENT) : 0n;
  if (amount <= 0n)
    return updatePrepaidInvoice(client, invoice.invoiceKey, ['created'], { state: 'created', creditApplied: current.credit, lastError: 'not enough credit to pay it yet' });
  const applied = await whmcs.applyCredit({ invoiceId, amount: formatMoney(amount, 2), noEmail: true });
  await hooks?.afterApplyCredit?.(invoice);
  forgetClientDetails(whmcs, invoice.clientId);
  const total = formatMoney(parseMoney(current.credit) + parseMoney(applied.amount), 2);
  return updatePrepaidInvoice(client, invoice.invoiceKey, ['created'], { state: applied.invoicePaid ? 'paid' : 'created', creditApplied: total });
}

/** callsOnPrepaidInvoices, with the worker's WHMCS client (the period's rest goes on the closing invoice, invoicePrepaidClose). */
export function billsOnPrepaidInvoices(deps: Pick<WorkerDeps, 'config' | 'whmcs'>, plan: Record<string, unknown>): boolean {
  return deps.whmcs !== null && callsOnPrepaidInvoices(deps.config, plan);
}

/** Drives one invoice on: made in WHMCS (found by its token first), then paid from credit. */
async function finishInvoice(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, start: PrepaidInvoice, hooks?: PrepaidHooks): Promise<PrepaidInvoice> {
  let invoice = start;
  if (invoice.state === 'creating' || invoice.state === 'unknown') invoice = (await ensureCreated(deps, whmcs, client, invoice, hooks)) ?? invoice;
  if (invoice.state === 'created') invoice = (await payFromCredit(deps, whmcs, client, invoice, hooks)) ?? invoice;
  if (invoice.state === 'paid') deps.logger.info({ invoiceKey: invoice.invoiceKey, amount: invoice.lineAmount }, 'prepaid usage invoiced and paid from credit');
  return invoice;
}

/**
 * At a period's close (the caller holds the service's billing lock, before the batch is made): the
 * calls of `period` and earlier not yet on a prepaid invoice go on the period's closing invoice
 * (`pp-<service>-close-<period>`, at most one, whatever daily invoices exist), which is then made
 * in WHMCS and paid from credit like a daily one. A WHMCS failure here leaves it to the cadence job
 * (servicesToInvoicePrepaid lists every invoice not yet paid); the batch goes on regardless.
 */
export async function invoicePrepaidClose(
  deps: WorkerDeps,
  client: PoolClient,
  service: { serviceId: number; clientId: number },
  period: string,
  now = new Date(),
  hooks?: PrepaidHooks,
): Promise<PrepaidOutcome> {
  const whmcs = deps.whmcs;
  if (!whmcs) return { serviceId: service.serviceId, outcome: 'whmcs-not-configured', invoiceKey: null };
  const made = await createPrepaidInvoice(client, { ...service, day: billingDay(now, deps.config.billing.timeZone), closingPeriod: period });
  const invoice = made ?? (await listPrepaidInvoices(client, { serviceId: service.serviceId })).find((found) => found.invoiceKey === prepaidCloseKey(service.serviceId, period));
  if (!invoice) {
    // Calls in several currencies make no invoice: said once per period (the close lists the service no more for it).
    const currencies = await reportPrepaidCurrenciesMixed(client, service.serviceId, period);
    if (currencies)
      deps.logger.error(
        { code: 'BILLING_CURRENCY_MIXED', serviceId: service.serviceId, clientId: service.clientId, period, currencies },
        'ALERT prepaid calls rated in several currencies: no invoice can hold them; re-rate them with one deck (ictvoip rerate)',
      );
    return { serviceId: service.serviceId, outcome: 'nothing', invoiceKey: null };
  }
  // Paid, or released by an operator (its calls wait for a daily invoice): nothing more to do with it.
  if (invoice.state === 'paid' || invoice.state === 'abandoned') return { serviceId: service.serviceId, outcome: invoice.state, invoiceKey: invoice.invoiceKey };
  try {
    const after = await finishInvoice(deps, whmcs, client, invoice, hooks);
    return { serviceId: service.serviceId, outcome: after.state, invoiceKey: invoice.invoiceKey };
  } catch (error) {
    if (!(error instanceof WhmcsTransportError || error instanceof WhmcsApiError || error instanceof WhmcsInputError)) throw error;
    deps.logger.warn({ invoiceKey: invoice.invoiceKey, err: describeError(error) }, 'prepaid closing invoice not finished: the prepaid cadence finishes it');
    return { serviceId: service.serviceId, outcome: invoice.state, invoiceKey: invoice.invoiceKey };
  }
}

/**
 * A prepaid service's usage: the unbilled rated calls on one WHMCS invoice per day, paid from the
 * client's credit. Under the service's billing lock (no CDR sync, re-rating or batch moves its
 * charges meanwhile); an unfinished invoice is finished before the next is made.
 */
export async function invoicePrepaidUsage(deps: WorkerDeps, serviceId: number, now = new Date(), hooks?: PrepaidHooks): Promise<PrepaidOutcome> {
  const service = await deps.services.get(serviceId);
  if (!service || service.plan.billingMode !== 'prepaid') return { serviceId, outcome: 'not-prepaid', invoiceKey: null };
  const whmcs = deps.whmcs;
  if (!whmcs) return { serviceId, outcome: 'whmcs-not-configured', invoiceKey: null };
  return withBillingLock(deps.pool, serviceId, async (client) => {
    const invoice =
      (await openPrepaidInvoice(client, serviceId)) ??
      (await createPrepaidInvoice(client, { serviceId, clientId: service.clientId, day: billingDay(now, deps.config.billing.timeZone) }));
    if (!invoice) return { serviceId, outcome: 'nothing', invoiceKey: null };
    const after = await finishInvoice(deps, whmcs, client, invoice, hooks);
    return { serviceId, outcome: after.state, invoiceKey: after.invoiceKey };
  });
}

export function handlePrepaidInvoice(deps: WorkerDeps, job: TypedJob<typeof CREDIT_JOBS.prepaidInvoice>): Promise<PrepaidOutcome> {
  return invoicePrepaidUsage(deps, job.data.serviceId, job.data.now ? new Date(job.data.now) : new Date());
}

/** The cadence (CREDIT_PREPAID_INVOICE_EVERY_SECONDS): one job per prepaid service with something to invoice or finish. */
export async function fanOutPrepaidInvoices(deps: WorkerDeps, now = new Date()): Promise<{ enqueued: number }> {
  const every = Math.max(1, deps.config.credit.prepaidInvoiceEverySeconds);
  const slot = `t${Math.floor(now.getTime() / (every * 1000))}`;
  const jobs = (await servicesToInvoicePrepaid(deps.pool)).map((serviceId) => ({
    data: { serviceId, now: now.toISOString() },
    opts: { jobId: prepaidInvoiceJobId(serviceId, slot) },
  }));
  if (jobs.length > 0) await addJobs(deps.queues, CREDIT_JOBS.prepaidInvoice, jobs);
  return { enqueued: jobs.length };
}

export function handlePrepaidInvoiceAll(deps: WorkerDeps, job: TypedJob<typeof CREDIT_JOBS.prepaidInvoiceAll>): Promise<{ enqueued: number }> {
  return fanOutPrepaidInvoices(deps, job.data.now ? new Date(job.data.now) : new Date());
}
