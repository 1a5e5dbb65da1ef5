import { Command, InvalidArgumentError } from 'commander';
import type { Pool } from 'pg';
import { BILLING_JOBS, billingPushJobId, QUEUE_NAMES } from '@ictvoip/queue';
import { formatMoney, parseMoney, roundInvoiceLine } from '@ictvoip/rating';
import {
  assertPeriodLabel,
  batchIdFor,
  getBatch,
  listAdjustments,
  listBatches,
  listCharges,
  listCurrenciesMixedHeld,
  listPrepaidInvoicesHeldForCurrency,
  assertBridgeDatabaseMigrated,
  billingPeriodsMode,
  closingServicePeriods,
  finalBillDueBefore,
  servicesToBill,
  servicesToBillPerService,
  servicesWithUnbilledWork,
  ServicesRepository,
  CreditSettleError,
  settleCreditLeft,
  assertReleasable,
  draftPrepaidInvoice,
  prepaidInvoicesToRelease,
  PrepaidReleaseError,
  releasePrepaidInvoice,
  withBillingLock,
  type PrepaidInvoice,
  type PrepaidRelease,
  type SettleOutcome,
  type BatchState,
  type CurrenciesMixedHold,
  type StoredCharge,
} from '@ictvoip/store';
import { minuteSlot, type JobReport, type JobRequest } from '../enqueue';
import { callsOnPrepaidInvoices, rerateServicePeriod, type RerateOutcome, type ServiceBillingView } from '@ictvoip/operations';
import { action, CliError, config, emit, positiveInt, progress, type JsonOption } from '../output';
import { periodText, viewOf, whmcsClient } from './credit';
import { withReadDeps } from '../read-deps';
import { runJobs, type EnqueueOptions } from './run-jobs';
import { cliPool } from '../pool';

interface PeriodOptions extends EnqueueOptions {
  period: string;
  dryRun?: boolean;
}

/** What a close or push would bill for one service, read from the store only. */
export interface BillingPreview {
  serviceId: number;
  batchId: string;
  period: string;
  /** the existing batch's state, or null when the close would make a new batch */
  state: BatchState | null;
  charges: number;
  adjustments: number;
  /** exact decimal string */
  total: string;
  currency: string | null;
  /** a prepaid service (callsOnPrepaidInvoices): the calls the close puts on its prepaid closing invoice, not in the batch */
  prepaid?: { charges: number; total: string };
}

/** States a push moves on (see pushBillingBatch); pushed/verified/zero are done. */
const PUSHABLE: readonly BatchState[] = ['open', 'failed', 'unknown', 'pushing'];

export function periodArgument(value: string): string {
  try {
    return assertPeriodLabel(value);
  } catch {
    throw new InvalidArgumentError("period must be YYYY-MM (or, with service billing periods, a period's first day YYYY-MM-DD)");
  }
}

function verifiesPushes(): boolean {
  const cfg = config();
  return Boolean(cfg.whmcs.apiUrl && cfg.whmcs.identifier && cfg.whmcs.secret) && cfg.billing.invoiceAction !== 'noinvoice';
}

async function withBridgeDb<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = cliPool(config().database.url, { max: 2 });
  try {
    await assertBridgeDatabaseMigrated(pool);
    return await work(pool);
  } finally {
    await pool.end();
  }
}

const sumOf = (charges: readonly StoredCharge[]) => charges.reduce((sum, c) => sum + parseMoney(c.amount ?? '0'), 0n);

/** The rated charges up to `period` on no batch and no prepaid invoice yet, as createBatch and invoicePrepaidClose gather them. */
async function unbilledCharges(pool: Pool, serviceId: number, period: string): Promise<StoredCharge[]> {
  return (await listCharges(pool, { serviceId, status: 'rated' })).filter((charge) => charge.batchId === null && charge.prepaidInvoice === null && charge.period <= period);
}

/** Whether the service's calls go on prepaid invoices (then the close puts them on its prepaid closing invoice, never in the batch). */
async function billsOnPrepaid(pool: Pool, serviceId: number): Promise<boolean> {
  const service = await new ServicesRepository(pool).get(serviceId);
  return service !== null && callsOnPrepaidInvoices(config(), service.plan);
}

/**
 * The currency of pending adjustments worth a cent, as a bill of adjustments alone reads it (pendingAdjustmentCurrenciesSql):
 * one whose adjustments come to less (a released prepaid invoice's lone remainder, a zero pair) makes no bill's currency.
 */
function carryingCurrency(adjustments: readonly { amount: string; currency: string | null }[]): string | null {
  const sums = new Map<string, bigint>();
  for (const a of adjustments) if (a.currency !== null) sums.set(a.currency, (sums.get(a.currency) ?? 0n) + parseMoney(a.amount, { allowNegative: true }));
  return [...sums].find(([, sum]) => roundInvoiceLine(sum) !== 0n)?.[0] ?? null;
}

/**
 * The batch the close would make: unbilled rated charges up to `period` (not a prepaid service's) plus the pending
 * adjustments it takes (createBatch's): those in its currency (its calls', else the one worth a cent) or in none. Another
 * currency's, under a cent, stay pending; with no currency worth a cent the bill has none.
 */
async function previewNewBatch(pool: Pool, serviceId: number, period: string, charges: readonly StoredCharge[]): Promise<BillingPreview | null> {
  const pending = await listAdjustments(pool, { serviceId, pendingOnly: true });
  const currency = charges[0]?.currency ?? carryingCurrency(pending);
  const adjustments = pending.filter((a) => a.currency === null || a.currency === currency);
  if (charges.length === 0 && adjustments.length === 0) return null;
  const total = sumOf(charges) + adjustments.reduce((sum, a) => sum + parseMoney(a.amount, { allowNegative: true }), 0n);
  return { serviceId, batchId: batchIdFor(serviceId, period), period, state: null, charges: charges.length, adjustments: adjustments.length, total: formatMoney(total), currency };
}

/**
 * What `billing close --period` closes: with calendar periods that month for every service; with
 * service periods each service's own cycle period containing the label's first day (closed ones
 * only), under its own label, as the scheduled close does.
 */
async function closingWork(pool: Pool, period: string): Promise<{ serviceId: number; period: string }[]> {
  const cfg = config();
  // A terminated service's final bill is due this long after its termination (the worker's push decides the same way).
  // A prepaid plan's calls: only while the period's closing invoice is not made (the worker's push decides the same way).
  const options = {
    verify: verifiesPushes(),
    finalBillDueBefore: finalBillDueBefore(cfg.billing.closeDelaySeconds),
    prepaidInvoices: callsOnPrepaidInvoices(cfg, { billingMode: 'prepaid' }),
  };
  if ((await billingPeriodsMode(pool, cfg.billing.periods)) === 'calendar') return servicesToBill(pool, period, options);
  const closing = await closingServicePeriods(pool, await servicesWithUnbilledWork(pool), new Date(), cfg.billing, period);
  return servicesToBillPerService(pool, closing, options);
}

async function previewClose(pool: Pool, period: string): Promise<BillingPreview[]> {
  const work = await closingWork(pool, period);
  const previews: BillingPreview[] = [];
  for (const item of work) {
    const onPrepaid = await billsOnPrepaid(pool, item.serviceId);
    // The closing invoice the close would make (none for calls a released invoice held, in several currencies, under a
    // cent, or once the period's is made), not every unbilled call: the service may be listed for its adjustments alone.
    // (A closing invoice's key has no day.)
    const prepaid = onPrepaid ? await draftPrepaidInvoice(pool, { serviceId: item.serviceId, day: '', closingPeriod: item.period }) : null;
    const prepaidPart = prepaid ? { prepaid: { charges: prepaid.calls, total: prepaid.total } } : {};
    const batch = await getBatch(pool, batchIdFor(item.serviceId, item.period));
    if (batch) {
      previews.push({
        serviceId: batch.serviceId,
        batchId: batch.batchId,
        period: batch.period,
        state: batch.state,
        charges: batch.callCount,
        adjustments: 0,
        total: batch.total,
        currency: batch.currency,
        ...prepaidPart,
      });
      continue;
    }
    const fresh = await previewNewBatch(pool, item.serviceId, item.period, onPrepaid ? [] : await unbilledCharges(pool, item.serviceId, item.period));
    // Only calls for the prepaid closing invoice: the close makes no batch, the preview still lists what it bills.
    const preview = fresh ?? (prepaid ? emptyPreview(item.serviceId, item.period, prepaid.currency) : null);
    if (preview) previews.push({ ...preview, ...prepaidPart });
  }
  return previews;
}

async function previewPush(pool: Pool, period: string): Promise<BillingPreview[]> {
  const batches = (await listBatches(pool, { states: PUSHABLE })).filter((batch) => batch.period === period);
  return batches.map((batch) => ({
    serviceId: batch.serviceId,
    batchId: batch.batchId,
    period: batch.period,
    state: batch.state,
    charges: batch.callCount,
    adjustments: 0,
    total: batch.total,
    currency: batch.currency,
  }));
}

function emptyPreview(serviceId: number, period: string, currency: string | null): BillingPreview {
  return { serviceId, batchId: batchIdFor(serviceId, period), period, state: null, charges: 0, adjustments: 0, total: formatMoney(0n), currency };
}

function previewText(previews: readonly BillingPreview[]): string {
  if (previews.length === 0) return 'nothing to bill';
  const prepaidText = (p: BillingPreview) => (p.prepaid ? `\t+ prepaid closing invoice: ${p.prepaid.charges} call(s) ${p.prepaid.total}${p.currency ? ` ${p.currency}` : ''}` : '');
  return previews
    .map((p) => `service ${p.serviceId}\t${p.batchId}\t${p.state ?? 'new'}\t${p.charges} charge(s)\t${p.total}${p.currency ? ` ${p.currency}` : ''}${prepaidText(p)}`)
    .join('\n');
}

function pushJobs(previews: readonly BillingPreview[], slot: string): JobRequest[] {
  return previews.map((p) => ({ name: BILLING_JOBS.pushBatch, id: billingPushJobId(p.serviceId, p.period, slot), data: { serviceId: p.serviceId, period: p.period } }));
}

/** Calls without a rate (status unrated) up to each service's period: never billed until re-rated, so the close says so. */
async function unratedCalls(pool: Pool, previews: readonly BillingPreview[]): Promise<Map<number, number>> {
  if (previews.length === 0) return new Map();
  const { rows } = await pool.query<{ service_id: number; n: number }>(
    `SELECT p.service_id, count(*)::int AS n FROM unnest($1::int[], $2::text[]) AS p (service_id, period)
     JOIN cdr_charges c ON c.service_id = p.service_id AND c.status = 'unrated' AND c.period <= p.period GROUP BY 1`,
    [previews.map((p) => p.serviceId), previews.map((p) => p.period)],
  );
  return new Map(rows.map((row) => [row.service_id, row.n]));
}

async function runBilling(kind: 'close' | 'push', options: PeriodOptions): Promise<void> {
  const { previews, unrated, held, heldInvoices } = await withBridgeDb(async (pool) => {
    const found = kind === 'close' ? await previewClose(pool, options.period) : await previewPush(pool, options.period);
    const close = kind === 'close';
    return {
      previews: found,
      unrated: await unratedCalls(pool, found),
      held: close ? await listCurrenciesMixedHeld(pool, { prepaidInvoices: callsOnPrepaidInvoices(config(), { billingMode: 'prepaid' }) }) : [],
      heldInvoices: close ? await listPrepaidInvoicesHeldForCurrency(pool) : [],
    };
  });
  for (const p of previews) {
    const count = unrated.get(p.serviceId);
    if (count)
      process.stderr.write(`ictvoip: service ${p.serviceId}: ${count} call(s) up to ${p.period} have no rate and are not billed (give the deck a rate, then \`ictvoip rerate\`)\n`);
  }
  // Held bills are not in the close's list (it reported them once): said here, at every close, until they are re-rated.
  for (const h of held) process.stderr.write(`ictvoip: ${heldText(h)}\n`);
  for (const invoice of heldInvoices)
    process.stderr.write(
      `ictvoip: service ${invoice.serviceId}: prepaid invoice ${invoice.invoiceKey} not made (${invoice.lineAmount} ${invoice.currency ?? ''}): ${invoice.lastError ?? ''} (change the client's currency in WHMCS: the next prepaid run makes it; or \`ictvoip billing prepaid-release ${invoice.invoiceKey}\` and re-rate its calls in the client's currency)\n`,
    );
  for (const p of previews.filter((preview) => preview.period !== options.period)) {
    progress(
      options,
      `service ${p.serviceId}: its billing period for ${options.period} is ${p.period} (service billing periods: the closed cycle period containing the 1st, else its latest closed one)`,
    );
  }
  if (options.dryRun) {
    const prepaidInvoicesHeld = heldInvoices.map((invoice) => ({
      serviceId: invoice.serviceId,
      invoiceKey: invoice.invoiceKey,
      amount: invoice.lineAmount,
      currency: invoice.currency,
      reason: invoice.lastError,
    }));
    emit(options, { dryRun: true, period: options.period, services: previews, held, prepaidInvoicesHeld }, () => previewText(previews));
    return;
  }
  const reports = await runJobs(QUEUE_NAMES.billing, pushJobs(previews, minuteSlot()), options, { period: options.period, services: previews });
  await reportFailedPushes(reports);
}

/** Push outcomes that leave a batch unbilled until someone acts (a retry alone will not bill it). */
const FAILED_PUSHES = new Set(['failed', 'failed-final', 'whmcs-not-configured']);

/** One bill held for work in several currencies (listCurrenciesMixedHeld), as the close says it. */
function heldText(held: CurrenciesMixedHold): string {
  if (held.kind === 'released') {
    const released = held.released;
    const calls = released
      ? `${released.calls} call(s) of ${released.total} ${held.currencies.join(', ')} of released prepaid invoice(s) ${released.invoiceKeys.join(', ')}`
      : 'calls of released prepaid invoices';
    return `service ${held.serviceId}: ${calls} (up to ${held.period}) wait to be re-rated in the client's currency and are not invoiced, released ${held.reportedAt.toISOString()} (give the service a deck in the client's currency, then \`ictvoip rerate\` each period)`;
  }
  const what = held.kind === 'prepaid' ? 'prepaid calls' : 'calls and adjustments';
  return `service ${held.serviceId}: ${what} up to ${held.period} are in several currencies (${held.currencies.join(', ')}) and not billed, held since ${held.reportedAt.toISOString()} (give the service a deck in the client's currency, then \`ictvoip rerate\` each period)`;
}

/** A push job that ran and did not bill is a failure of the command: its batch's reason on stderr, exit 1. */
async function reportFailedPushes(reports: readonly JobReport[]): Promise<void> {
  const failed = reports.flatMap((report) => {
    const result = report.result as { outcome?: string; batchId?: string | null } | undefined;
    return result?.outcome && FAILED_PUSHES.has(result.outcome) ? [{ outcome: result.outcome, batchId: result.batchId ?? null, serviceId: report.data.serviceId }] : [];
  });
  if (failed.length === 0) return;
  const batches = await withBridgeDb((pool) => Promise.all(failed.map((push) => (push.batchId ? getBatch(pool, push.batchId) : null))));
  failed.forEach((push, i) => {
    const reason = batches[i]?.lastError ?? (push.outcome === 'whmcs-not-configured' ? 'WHMCS_API_URL and its credentials are not set' : 'no reason recorded');
    process.stderr.write(`ictvoip: service ${String(push.serviceId)} batch ${push.batchId ?? '-'} not billed (${push.outcome}): ${reason}\n`);
  });
  process.exitCode = 1;
}

function periodCommand(name: 'close' | 'push', description: string): Command {
  return new Command(name)
    .description(description)
    .requiredOption('--period <YYYY-MM>', 'the closing period', periodArgument)
    .option('--dry-run', 'print what would be billed per service (charges, total, batch id); write nothing')
    .option('--wait [seconds]', 'wait for the jobs to finish (default 300 s)')
    .option('--json', 'machine-readable output')
    .action(action((options: PeriodOptions) => runBilling(name, options)));
}

function cycleText(view: ServiceBillingView): string {
  const { mode, segments, current, latestClosed } = view.periods;
  const lines = [`service ${view.serviceId} (client ${view.clientId})`, `periods          ${mode}${mode === 'calendar' ? ' (every service by calendar month)' : ''}`];
  if (mode === 'service' && segments.length === 0) lines.push('cycle            none recorded yet: calendar months until the next CDR sync records it');
  for (const segment of segments) {
    const anchor = segment.anchor ? `, due-date anchor ${segment.anchor}` : ', calendar months';
    lines.push(
      `cycle            ${segment.cycle} (WHMCS "${segment.whmcsCycle}"${anchor}) from ${segment.from ?? 'the start'}, source ${segment.source}, checked ${segment.checkedAt.toISOString()}`,
    );
  }
  lines.push(`current period   ${periodText(current)}`, `latest closed    ${latestClosed}`);
  return lines.join('\n');
}

/** `ictvoip billing cycle --service N`: the service's billing periods (mode, recorded WHMCS cycle, current and latest closed period). */
function cycleCommand(): Command {
  return new Command('cycle')
    .description("one service's billing periods: calendar or service mode, its recorded WHMCS cycle and due date, the current and the latest closed period")
    .requiredOption('--service <id>', 'the WHMCS service', positiveInt('--service'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number }) => {
        const view = await withBridgeDb((pool) => viewOf(pool, options.service));
        emit(options, { service: view.serviceId, billingMode: view.billingMode, periods: view.periods }, () => cycleText(view));
      }),
    );
}

function settleText(outcome: SettleOutcome): string {
  const { settlement } = outcome;
  const credit = `${settlement.credit}${settlement.currency ? ` ${settlement.currency}` : ''}`;
  return outcome.settled
    ? `service ${settlement.serviceId}: credit ${credit} recorded as settled in WHMCS (${settlement.adjustmentId}): nothing left pending; the purge may go`
    : `service ${settlement.serviceId}: nothing left to settle; its credit ${credit} was recorded as settled on ${settlement.at.toISOString()} (${settlement.adjustmentId}): ${settlement.note}`;
}

/**
 * `ictvoip billing settle --service N --note <text>`: records that a terminated service's credit left
 * (BILLING_CREDIT_LEFT) was refunded or credited in WHMCS by hand. Under the billing lock, so a close
 * or a second settle waits: run twice, it settles once and answers the settlement the second time.
 */
function settleCommand(): Command {
  return new Command('settle')
    .description(
      "record that a terminated service's credit left (BILLING_CREDIT_LEFT) was settled in WHMCS by hand (refunded or credited): it is no longer carried, and the purge may go",
    )
    .requiredOption('--service <id>', 'the WHMCS service', positiveInt('--service'))
    .requiredOption('--note <text>', 'how it was settled, for the audit log (e.g. "refunded on invoice 1234")', noteArgument)
    .option('--currency <code>', 'the currency of the credit settled (needed when credits are left in several currencies: each is settled on its own)', currencyArgument)
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption & { service: number; note: string; currency?: string }) => {
        const settle = { note: options.note, actor: 'cli', ...(options.currency === undefined ? {} : { currency: options.currency }) };
        const outcome = await withBridgeDb((pool) =>
          withBillingLock(pool, options.service, (client) => settleCreditLeft(client, options.service, settle)).catch((error: unknown) => {
            if (error instanceof CreditSettleError) throw new CliError(error.code, error.message);
            throw error;
          }),
        );
        emit(options, { service: options.service, settled: outcome.settled, settlement: outcome.settlement }, () => settleText(outcome));
      }),
    );
}

function currencyArgument(value: string): string {
  const currency = value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new InvalidArgumentError('--currency must be a three-letter currency code (EUR, USD)');
  return currency;
}

function noteArgument(value: string): string {
  const note = value.trim();
  if (note === '') throw new InvalidArgumentError('--note must say how the credit was settled');
  return note;
}

type ReleaseTarget = { invoiceKey: string } | { serviceId: number };

/** A prepaid invoice's key (`pp-42-2025-06-15`, `pp-42-close-2025-06`) or a service id. */
function releaseTarget(value: string): ReleaseTarget {
  if (/^pp-[0-9]+-/.test(value)) return { invoiceKey: value };
  if (/^[1-9][0-9]*$/.test(value)) return { serviceId: Number(value) };
  throw new InvalidArgumentError('give a prepaid invoice key (pp-42-2025-06-15) or a service id');
}

function releaseText(release: PrepaidRelease, dryRun: boolean): string {
  const { invoice } = release;
  const money = (amount: string) => `${amount}${invoice.currency ? ` ${invoice.currency}` : ''}`;
  if (!release.released) return `prepaid invoice ${invoice.invoiceKey} (service ${invoice.serviceId}) was released at ${invoice.updatedAt.toISOString()}: nothing changed`;
  const remainder = release.remainderAdjustment
    ? `; its carried rounding remainder taken back (${release.remainderAdjustment.adjustmentId}: ${money(release.remainderAdjustment.amount)})`
    : '';
  const rerate = release.periods.map((period) => `ictvoip rerate --service ${invoice.serviceId} --period ${period}`).join(', ');
  return [
    `${dryRun ? 'dry run (nothing changed; --yes to release): would release' : 'released'} prepaid invoice ${invoice.invoiceKey} of service ${invoice.serviceId} (client ${invoice.clientId}, ${money(invoice.lineAmount)}, never made in WHMCS)`,
    `  ${release.calls} call(s) of ${money(release.total)} back to unbilled, held until re-rated${remainder}; the invoice ${dryRun ? 'would be' : 'is'} marked abandoned (audit billing.prepaid_invoice_released)`,
    `  next: give the service a deck in the client's currency, then ${rerate || 'ictvoip rerate'}: the next prepaid run invoices them`,
  ].join('\n');
}

/** A release the store refused, as the CLI's error (its code, exit 1). */
function asRefusal<T>(work: () => Promise<T>): Promise<T> {
  return work().catch((error: unknown) => {
    if (error instanceof PrepaidReleaseError) throw new CliError(error.code, error.message);
    throw error;
  });
}

/** Releases one held invoice under its service's billing lock (no prepaid run can send it meanwhile), once WHMCS is known not to have it. */
async function releaseOne(pool: Pool, listed: PrepaidInvoice, dryRun: boolean): Promise<PrepaidRelease> {
  const whmcs = whmcsClient();
  if (!whmcs) throw new CliError('WHMCS_NOT_CONFIGURED', 'WHMCS_API_URL and its credentials are not set: whether WHMCS made the invoice cannot be checked, so nothing is released');
  return withBillingLock(pool, listed.serviceId, async (client) => {
    const invoice = (await prepaidInvoicesToRelease(client, { invoiceKey: listed.invoiceKey }))[0] ?? listed;
    await asRefusal(async () => assertReleasable(invoice));
    // An attempt whose answer was lost (or a worker that crashed after CreateInvoice) may have made it: then it is not released.
    const made = invoice.state === 'abandoned' ? null : await whmcs.findInvoiceByToken(invoice.clientId, invoice.token);
    if (made)
      throw new CliError(
        'INVOICE_IN_WHMCS',
        `prepaid invoice ${invoice.invoiceKey} is in WHMCS (invoice ${made.id}, token ${invoice.token}): not released; the next prepaid run records and pays it`,
      );
    return asRefusal(() => releasePrepaidInvoice(client, invoice.invoiceKey, { actor: 'cli', dryRun }));
  });
}

/**
 * `ictvoip billing prepaid-release <invoice key | service> [--yes]`: a prepaid invoice held because its client pays in
 * another currency than its calls (CURRENCY_MISMATCH) gives its calls back (unbilled, held until re-rated) and is kept
 * as abandoned, so the calls can be re-rated in the client's currency instead of changing the client's in WHMCS.
 */
function prepaidReleaseCommand(): Command {
  return new Command('prepaid-release')
    .description(
      "release a prepaid invoice held because its client pays in another currency than its calls (CURRENCY_MISMATCH): its calls go back to unbilled, held until re-rated (ictvoip rerate) in the client's currency; the invoice is marked abandoned. A dry run without --yes",
    )
    .argument('<invoice|service>', 'the held invoice (pp-42-2025-06-15) or a service id (all its held invoices)', releaseTarget)
    .option('--yes', 'release (without it: print what would be released, change nothing)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (target: ReleaseTarget, options: JsonOption & { yes?: boolean }) => {
        const dryRun = options.yes !== true;
        const releases = await withBridgeDb(async (pool) => {
          const invoices = await prepaidInvoicesToRelease(pool, target);
          if (invoices.length === 0)
            throw new CliError(
              'INVOICE_UNKNOWN',
              'invoiceKey' in target ? `no prepaid invoice ${target.invoiceKey}` : `service ${target.serviceId} has no prepaid invoice held for its client's currency`,
            );
          const done: PrepaidRelease[] = [];
          for (const invoice of invoices) done.push(await releaseOne(pool, invoice, dryRun));
          return done;
        });
        emit(options, { dryRun, releases }, () => releases.map((release) => releaseText(release, dryRun)).join('\n'));
      }),
    );
}

/** `ictvoip billing close|push --period YYYY-MM [--dry-run] [--wait]`, `billing cycle --service N`, `billing settle --service N --note …`, `billing prepaid-release …`. */
export function billingCommand(): Command {
  return new Command('billing')
    .description('usage billing to WHMCS')
    .addCommand(
      periodCommand(
        'close',
        "batch every service with unbilled charges up to the period and push the batches to WHMCS (billing.push-batch jobs); with service billing periods each service's own closed cycle period containing the period's first day",
      ),
    )
    .addCommand(periodCommand('push', "push (or reconcile) the period's batches not yet in WHMCS (billing.push-batch jobs)"))
    .addCommand(cycleCommand())
    .addCommand(settleCommand())
    .addCommand(prepaidReleaseCommand());
}

function rerateText(outcome: RerateOutcome): string {
  const lines = [
    `service ${outcome.serviceId} ${outcome.period}: ${outcome.updated} charge(s) would be re-rated (${outcome.changes?.length ?? 0} changed), ${outcome.immutable} already invoiced, ${outcome.missing} no longer in FusionPBX`,
    ...(outcome.changes ?? []).map(
      (change) =>
        `  ${change.xmlCdrUuid}: ${change.from.amount ?? '-'} ${change.from.status} → ${change.to.amount ?? '-'} ${change.to.status}${change.invoiced ? ' (invoiced: in the adjustment)' : ''}`,
    ),
    outcome.adjustment ? `adjustment for invoiced charges: ${outcome.adjustment}` : 'no adjustment',
  ];
  const still = outcome.releasedCurrency;
  if (still)
    lines.push(
      `warning: ${still.calls} call(s) held by released prepaid invoice(s) ${still.invoiceKeys.join(', ')} would still be in ${still.currencies.join(', ')}, the currency they were held in (the client pays in another): the next prepaid run would hold them on a new invoice; give the service a deck in the client's currency first`,
    );
  if (outcome.dissolvedBatch) lines.push(`open batch ${outcome.dissolvedBatch} would be dissolved (the next close makes it again)`);
  lines.push('dry run: rolled back, nothing changed');
  return lines.join('\n');
}

/** `ictvoip rerate --service <id> --period YYYY-MM [--wait]`: one billing.rerate-period job. */
export function rerateCommand(): Command {
  return new Command('rerate')
    .description("re-rate one service's period with its current deck and plan (pushed charges get an adjustment)")
    .requiredOption('--service <id>', 'WHMCS service id', positiveInt('--service'))
    .requiredOption('--period <YYYY-MM>', 'the period to re-rate', periodArgument)
    .option('--dry-run', 're-rate in a transaction that is rolled back: print the charges and adjustment it would change; enqueue nothing')
    .option('--wait [seconds]', 'wait for the job to finish (default 300 s)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: EnqueueOptions & { service: number; period: string; dryRun?: boolean }) => {
        if (options.dryRun) {
          const outcome = await withReadDeps((deps) => rerateServicePeriod(deps, options.service, options.period, { dryRun: true }), { serviceId: options.service }).catch(
            (error: Error & { code?: string }) => {
              if (error.code === 'SERVICE_UNKNOWN') throw new CliError(error.code, error.message);
              throw error;
            },
          );
          emit(options, { dryRun: true, ...outcome }, () => rerateText(outcome));
          return;
        }
        const job = {
          name: BILLING_JOBS.reratePeriod,
          id: `billing-rerate-${options.service}-${options.period}-${minuteSlot()}`,
          data: { serviceId: options.service, period: options.period },
        };
        // Asked again once the first run finished (the deck fixed meanwhile, say), it re-rates again.
        await runJobs(QUEUE_NAMES.billing, [job], options, {}, { rerunFinished: true });
      }),
    );
}
