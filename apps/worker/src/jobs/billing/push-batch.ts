import type { PoolClient } from 'pg';
import type { BILLING_JOBS, TypedJob } from '@ictvoip/queue';
import { currencyMismatch } from '@ictvoip/operations';
import { parseMoney } from '@ictvoip/rating';
import {
  BATCH_CURRENCIES_MIXED_ACTION,
  BillingCurrencyMixedError,
  createBatch,
  finalBillDue,
  getBatch,
  hasUnbilledRatedCharges,
  laterBillPeriod,
  markBatchFailed,
  markBatchPushed,
  markBatchPushing,
  markBatchUnknown,
  markBatchVerified,
  markBatchVerifyChecked,
  markBatchZero,
  recordCreditsLeft,
  recordCurrenciesMixed,
  settleBelowCent,
  unbilledCallsBelowCent,
  withBillingLock,
  type BatchState,
  type BelowCentSettled,
  type BillingBatch,
  type CreditLeft,
} from '@ictvoip/store';
import { WhmcsApiError, WhmcsInputError, WhmcsTransportError, type WhmcsApiClient } from '@ictvoip/whmcs';
import type { WorkerDeps } from '../../deps';
import { billsOnPrepaidInvoices, invoicePrepaidClose, type PrepaidHooks } from '../credit/prepaid-invoice';
import { describeError, PermanentJobError } from '../../errors';

/** What one push attempt got from WHMCS. Only `ambiguous` may have created the item without us knowing its id. */
export type PushAttempt =
  | { kind: 'added'; billableId: number }
  | { kind: 'ambiguous'; code: string; message: string }
  | { kind: 'not_delivered'; code: string; message: string }
  | { kind: 'refused'; code: string; message: string; final: boolean };

/** Test seams: throwing from one simulates a process crash at that exact point. */
export interface PushHooks {
  /** after `pushing` is committed, before WHMCS is called */
  afterMarkPushing?: (batch: BillingBatch) => void | Promise<void>;
  /** after WHMCS answered (or failed), before the outcome is recorded */
  afterPush?: (attempt: PushAttempt) => void | Promise<void>;
  /** after the outcome is recorded (committed), before the job returns */
  afterRecord?: (outcome: PushOutcome) => void | Promise<void>;
  /** a prepaid service's closing invoice (see invoicePrepaidClose) */
  prepaid?: PrepaidHooks;
}

export type PushOutcome =
  'nothing' | 'pushed' | 'verified' | 'reconciled' | 'zero' | 'unknown' | 'awaiting-reconciliation' | 'failed' | 'failed-final' | 'whmcs-not-configured' | 'currencies-mixed';

export interface PushResult {
  outcome: PushOutcome;
  batchId: string | null;
  state: BatchState | null;
  /** a terminated service's calls rated after the period's bill was made: their bill, the next period's (see pushBillingBatch) */
  later?: PushResult;
}

/** Refusals that another attempt cannot fix: alerted, left for an operator. */
const FINAL_CODES = new Set(['WHMCS_AUTH_REFUSED', 'WHMCS_NOT_FOUND', 'WHMCS_INPUT_INVALID', 'CURRENCY_MISMATCH']);

function classify(error: unknown): PushAttempt {
  if (error instanceof WhmcsTransportError) {
    // Only the write itself can have created an item; a failed read before it billed nothing.
    if (error.action === 'AddBillableItem' && error.mayHaveTakenEffect) return { kind: 'ambiguous', code: error.code, message: error.message };
    return { kind: 'not_delivered', code: error.code, message: error.message };
  }
  if (error instanceof WhmcsApiError) return { kind: 'refused', code: error.code, message: error.message, final: FINAL_CODES.has(error.code) };
  if (error instanceof WhmcsInputError) return { kind: 'refused', code: error.code, message: error.message, final: true };
  throw error;
}

async function attemptAdd(deps: WorkerDeps, whmcs: WhmcsApiClient, batch: BillingBatch): Promise<PushAttempt> {
  try {
    const client = await whmcs.getClientsDetails(batch.clientId);
    // AddBillableItem has no currency: the amount is read in the client's currency, so it must be the deck's.
    const mismatch = currencyMismatch(batch.clientId, client.currencyCode, [batch.currency], 'charges are in');
    if (mismatch) return { kind: 'refused', code: mismatch.code, message: mismatch.message, final: true };
    const invoiceAction = deps.config.billing.invoiceAction;
    const dueDate = invoiceAction === 'duedate' ? (await whmcs.getService(batch.serviceId))?.nextDueDate : undefined;
    const { billableId } = await whmcs.addBillableItem({ clientId: batch.clientId, description: batch.description, amount: batch.lineAmount, invoiceAction, dueDate });
    return { kind: 'added', billableId };
  } catch (error) {
    return classify(error);
  }
}

/**
 * WHMCS's refusals are capped at BILLING_MAX_ATTEMPTS; pushes that never reached WHMCS (unreachable, a
 * 4xx from a proxy, a read that failed before the write) are not refusals and use none of the cap: nothing
 * was billed, and WHMCS down for longer than BILLING_MAX_ATTEMPTS closes must not leave the period (or a
 * final bill) unbilled for good, nor make the first refusal after it final.
 */
function refusalsUsedUp(deps: WorkerDeps, refusals: number): boolean {
  return refusals >= deps.config.billing.maxAttempts;
}

/** A failed batch is not sent again when WHMCS refused it for good, or refused it as often as allowed. */
function failedForGood(deps: WorkerDeps, batch: BillingBatch): boolean {
  return FINAL_CODES.has(batch.lastErrorCode ?? '') || refusalsUsedUp(deps, batch.refusals);
}

async function recordFinalRefusal(deps: WorkerDeps, batch: BillingBatch, attempt: Extract<PushAttempt, { kind: 'refused' }>, refusals: number): Promise<void> {
  const detail = {
    batchId: batch.batchId,
    serviceId: batch.serviceId,
    clientId: batch.clientId,
    period: batch.period,
    amount: batch.lineAmount,
    code: attempt.code,
    // `batch` is as marked `pushing`: this attempt is already counted.
    attempts: batch.attempts,
    refusals,
  };
  // Error level + "ALERT" + the code: what log-based alerting keys on; the batch stays `failed` (listBatchesNeedingAttention).
  deps.logger.error({ ...detail, err: attempt.message }, 'ALERT billing push refused by WHMCS: final, needs an operator');
  await deps.audit.append({ actor: 'billing', action: 'billing.failed', serviceId: batch.serviceId, detail });
}

async function record(deps: WorkerDeps, client: PoolClient, batch: BillingBatch, attempt: PushAttempt): Promise<PushOutcome> {
  const log = { batchId: batch.batchId, serviceId: batch.serviceId, amount: batch.lineAmount };
  switch (attempt.kind) {
    case 'added':
      await markBatchPushed(
        client,
        batch,
        { billableId: attempt.billableId },
        { actor: 'billing', action: 'billing.pushed', serviceId: batch.serviceId, detail: { ...log, billableId: attempt.billableId } },
      );
      deps.logger.info({ ...log, billableId: attempt.billableId }, 'billing batch pushed to WHMCS');
      return 'pushed';
    case 'ambiguous':
      await markBatchUnknown(client, batch.batchId, attempt.code, attempt.message);
      deps.logger.warn({ ...log, err: attempt.message }, 'billing push outcome unknown: will reconcile by token before any resend');
      return 'unknown';
    case 'not_delivered':
      await markBatchFailed(client, batch.batchId, attempt.code, attempt.message, false);
      deps.logger.warn({ ...log, err: attempt.message }, 'billing push not delivered; safe to retry');
      return 'failed';
    case 'refused': {
      const refusals = (await markBatchFailed(client, batch.batchId, attempt.code, attempt.message, true)) ?? batch.refusals + 1;
      const final = attempt.final || refusalsUsedUp(deps, refusals);
      if (final) await recordFinalRefusal(deps, batch, attempt, refusals);
      else deps.logger.warn({ ...log, code: attempt.code, err: attempt.message }, 'billing push refused by WHMCS; will retry');
      return final ? 'failed-final' : 'failed';
    }
  }
}

async function send(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, batch: BillingBatch, from: readonly BatchState[], hooks?: PushHooks): Promise<PushOutcome> {
  // Committed before the call: a crash from here on leaves `pushing`, which is only ever reconciled.
  const marked = await markBatchPushing(client, batch.batchId, from);
  if (!marked) return 'awaiting-reconciliation';
  return pushMarked(deps, whmcs, client, marked, hooks);
}

/** The WHMCS call of a batch whose `pushing` (this attempt counted) is already committed. */
async function pushMarked(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, batch: BillingBatch, hooks?: PushHooks): Promise<PushOutcome> {
  await hooks?.afterMarkPushing?.(batch);
  const attempt = await attemptAdd(deps, whmcs, batch);
  await hooks?.afterPush?.(attempt);
  return record(deps, client, batch, attempt);
}

/** The WHMCS line matches the batch when its amount equals the batch's invoice line to the cent. */
function sameAmount(found: { amount: string }, batch: BillingBatch): boolean {
  return parseMoney(found.amount, { allowNegative: true }) === parseMoney(batch.lineAmount, { allowNegative: true });
}

/**
 * pushed → verified: the item is on a WHMCS invoice under the batch's token, for the batch's amount.
 * Not found yet (WHMCS invoices at its cron) or a different amount (alerted): stays `pushed`.
 */
async function verify(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, batch: BillingBatch): Promise<PushOutcome> {
  // With noinvoice WHMCS never puts the item on an invoice: there is nothing to verify against.
  if (deps.config.billing.invoiceAction === 'noinvoice') return 'pushed';
  const found = await whmcs.findBilledItem(batch.clientId, batch.pushToken, deps.config.billing.reconcileScanInvoices);
  if (!found || !sameAmount(found, batch)) {
    if (found)
      deps.logger.error(
        { batchId: batch.batchId, code: 'BILLING_AMOUNT_MISMATCH', whmcsAmount: found.amount, amount: batch.lineAmount },
        'ALERT WHMCS invoice line for a batch differs from the batch amount',
      );
    await markBatchVerifyChecked(client, batch.batchId);
    return 'pushed';
  }
  await markBatchVerified(client, batch.batchId, { invoiceId: found.invoiceId, invoiceItemId: found.itemId });
  deps.logger.info({ batchId: batch.batchId, invoiceId: found.invoiceId }, 'billing batch verified on a WHMCS invoice');
  return 'verified';
}

/** pushing (left by a crash) or unknown: find the token in WHMCS invoices; resend only when provably absent. */
async function reconcile(deps: WorkerDeps, whmcs: WhmcsApiClient, client: PoolClient, batch: BillingBatch, hooks?: PushHooks): Promise<PushOutcome> {
  const found = await whmcs.findBilledItem(batch.clientId, batch.pushToken, deps.config.billing.reconcileScanInvoices);
  if (found) {
    const matches = sameAmount(found, batch);
    if (!matches) {
      deps.logger.error(
        { batchId: batch.batchId, code: 'BILLING_AMOUNT_MISMATCH', whmcsAmount: found.amount, amount: batch.lineAmount },
        'ALERT WHMCS line for a batch differs from the batch amount',
      );
    }
    const audit = { actor: 'billing', action: 'billing.reconciled', serviceId: batch.serviceId, detail: { batchId: batch.batchId, invoiceId: found.invoiceId } };
    await markBatchPushed(client, batch, { invoiceId: found.invoiceId, invoiceItemId: found.itemId }, audit);
    // Found on an invoice: that is also its verification (unless the amount differs: left pushed, alerted).
    if (matches) await markBatchVerified(client, batch.batchId, { invoiceId: found.invoiceId, invoiceItemId: found.itemId });
    deps.logger.info({ batchId: batch.batchId, invoiceId: found.invoiceId }, 'billing batch found in WHMCS by its token');
    return 'reconciled';
  }
  const since = batch.ambiguousAt ?? batch.pushStartedAt ?? batch.createdAt;
  const waited = Date.now() - since.getTime();
  // With nextcron WHMCS invoices every billable item at its next daily cron: once that has surely
  // run and the token is on no invoice, the item does not exist and sending it is safe.
  const resendable = deps.config.billing.invoiceAction === 'nextcron' && waited >= deps.config.billing.resendAfterSeconds * 1000;
  if (!resendable) {
    if (batch.state === 'pushing') await markBatchUnknown(client, batch.batchId, 'PUSH_INTERRUPTED', 'push interrupted before its outcome was recorded');
    return 'awaiting-reconciliation';
  }
  deps.logger.warn({ batchId: batch.batchId, waitedSeconds: Math.floor(waited / 1000) }, 'billing token not in WHMCS after the resend delay: sending again');
  return send(deps, whmcs, client, batch, ['unknown', 'pushing'], hooks);
}

async function advance(deps: WorkerDeps, client: PoolClient, batch: BillingBatch, hooks?: PushHooks): Promise<PushOutcome> {
  if (batch.state === 'verified' || batch.state === 'zero') return batch.state;
  if (batch.state === 'pushed') return deps.whmcs ? verify(deps, deps.whmcs, client, batch) : 'pushed';
  if (batch.state === 'open' && parseMoney(batch.lineAmount, { allowNegative: true }) <= 0n) {
    // Nothing to invoice (all calls inside included minutes, or credits): recorded, not pushed; the total is carried.
    await markBatchZero(client, batch);
    return 'zero';
  }
  if (batch.state === 'failed' && failedForGood(deps, batch)) return 'failed-final';
  if (!deps.whmcs) return 'whmcs-not-configured';
  if (batch.state === 'open' || batch.state === 'failed') return send(deps, deps.whmcs, client, batch, [batch.state], hooks);
  return reconcile(deps, deps.whmcs, client, batch, hooks);
}

/** Terminated services' credits no bill can take: said loudly once per amount and currency (recordCreditsLeft: one per currency), for an operator to settle in WHMCS. */
export async function reportCreditsLeft(
  deps: Pick<WorkerDeps, 'logger'>,
  db: PoolClient | WorkerDeps['pool'],
  scope: Parameters<typeof recordCreditsLeft>[1],
): Promise<CreditLeft[]> {
  const credits = await recordCreditsLeft(db, scope);
  for (const left of credits)
    deps.logger.error(
      { code: 'BILLING_CREDIT_LEFT', serviceId: left.serviceId, clientId: left.clientId, batchId: left.batchId, credit: left.credit, currency: left.currency },
      'ALERT terminated service left with a credit no bill can take: settle it in WHMCS (refund or client credit), then `ictvoip billing settle`',
    );
  return credits;
}

/**
 * Makes (or finds) the batch of a service and closing period and moves it one step towards
 * `verified`: push, reconcile, verify on an invoice, or nothing. Safe to run any number of times,
 * concurrently: the billing lock serialises per service and every state change is conditional.
 */
export async function pushBillingBatch(deps: WorkerDeps, serviceId: number, period: string, hooks?: PushHooks): Promise<PushResult> {
  const service = await deps.services.get(serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${serviceId} is not known to the bridge`);
  return withBillingLock(deps.pool, serviceId, async (client) => {
    try {
      return await billService(deps, client, service, period, hooks);
    } catch (error) {
      if (!(error instanceof BillingCurrencyMixedError)) throw error;
      await reportCurrenciesMixed(deps, client, service, period, error.currencies);
      return { outcome: 'currencies-mixed', batchId: null, state: null };
    }
  });
}

/**
 * A bill of `period` (the close's, whichever bill threw) cannot be made: its calls and adjustments are in several currencies.
 * Said once per service and period (audit billing.batch_currencies_mixed, an ALERT log); the close lists the service no
 * more for the period (batchCurrenciesMixedHeldSql) and nothing is billed or marked, so once re-rated in one currency the
 * next close bills every call. The caller holds the billing lock.
 */
async function reportCurrenciesMixed(deps: WorkerDeps, client: PoolClient, service: { serviceId: number; clientId: number }, period: string, currencies: string[]): Promise<void> {
  if (!(await recordCurrenciesMixed(client, BATCH_CURRENCIES_MIXED_ACTION, service.serviceId, period, currencies))) return;
  deps.logger.error(
    { code: 'BILLING_CURRENCY_MIXED', serviceId: service.serviceId, clientId: service.clientId, period, currencies },
    'ALERT calls or adjustments in several currencies: no bill can hold them; re-rate them with one deck (ictvoip rerate)',
  );
}

type PushedService = NonNullable<Awaited<ReturnType<WorkerDeps['services']['get']>>>;

/** pushBillingBatch's work under the service's billing lock. */
async function billService(deps: WorkerDeps, client: PoolClient, service: PushedService, period: string, hooks?: PushHooks): Promise<PushResult> {
  const { serviceId } = service;
  const final = finalBillDue(service, deps.config.billing.closeDelaySeconds);
  // A prepaid service's calls are billed on prepaid invoices only: the period's rest on its closing invoice, first.
  let prepaid = billsOnPrepaidInvoices(deps, service.plan);
  if (prepaid) await invoicePrepaidClose(deps, client, { serviceId, clientId: service.clientId }, period, new Date(), hooks?.prepaid);
  // Left under a cent (no invoice can be made of them) by a terminated service: no next call will bring them to one. They go
  // on its bill as a postpaid service's calls (a zero bill), whose carried amount is settled below, rather than stay unbilled.
  if (prepaid && final && (await unbilledCallsBelowCent(client, serviceId, period))) prepaid = false;
  const result = await billPeriod(deps, client, service, period, prepaid, hooks);
  // Calls of the period (or earlier) its bill, made before them, did not take: a terminated service's, rated after its final
  // bill. No later call will come for a bill of theirs, so they go on the next period's at once, not at that period's close.
  // Only once the final bill is due: before it, the final bill takes them (one bill of the termination period, not two).
  if (!final || prepaid || !(await hasUnbilledRatedCharges(client, serviceId, period))) return settleLeft(deps, client, service, final, result);
  const later = await laterBillPeriod(client, serviceId, period, deps.config.billing.periods);
  deps.logger.info({ serviceId, period, later }, "calls rated after a terminated service's bill: billed on the next period's");
  return settleLeft(deps, client, service, final, { ...result, later: await billPeriod(deps, client, service, later, prepaid, hooks) });
}

/** A terminated service's bills done with (its final bill due): what is left under a cent is settled (reportBelowCentSettled). */
async function settleLeft(deps: WorkerDeps, client: PoolClient, service: { serviceId: number }, final: boolean, result: PushResult): Promise<PushResult> {
  if (final) await reportBelowCentSettled(deps, client, service.serviceId);
  return result;
}

/**
 * A terminated service's last amount under a cent (settleBelowCent: every call read and billed, the carried remainder rounds
 * to 0.00) is settled as below one cent, so it is not left pending for good with nothing saying so: audit
 * `billing.below_cent_settled`, and said at info (it is no one's to invoice or refund). The caller holds the billing lock.
 */
export async function reportBelowCentSettled(deps: Pick<WorkerDeps, 'logger' | 'metrics'>, client: PoolClient, serviceId: number): Promise<BelowCentSettled[]> {
  const settled = await settleBelowCent(client, serviceId);
  // Counted only here, after settleBelowCent's one statement committed (no transaction is open on `client`): a commit
  // that fails rejects that statement, so a settlement rolled back is never counted. Keep it so if this ever joins a transaction.
  for (const one of settled) {
    deps.metrics?.billingBelowCentSettled.inc({ currency: one.currency ?? 'none' });
    deps.logger.info(
      { code: 'BILLING_BELOW_CENT_SETTLED', serviceId, clientId: one.clientId, amount: one.amount, currency: one.currency, batchId: one.batchId },
      "terminated service's last amount under a cent settled: no bill can take it",
    );
  }
  return settled;
}

/** Makes (or finds) the batch of `period` and moves it one step, under the caller's billing lock. */
async function billPeriod(
  deps: WorkerDeps,
  client: PoolClient,
  service: { serviceId: number; clientId: number; desiredState: string },
  period: string,
  prepaid: boolean,
  hooks?: PushHooks,
): Promise<PushResult> {
  const { serviceId } = service;
  const whmcs = deps.whmcs;
  // With WHMCS configured, a new batch is made already `pushing`: one commit before the call, not two.
  const made = await createBatch(client, { serviceId, clientId: service.clientId, period, callsOnPrepaidInvoices: prepaid }, { startPush: whmcs !== null });
  if (!made) return { outcome: 'nothing', batchId: null, state: null };
  const { batch } = made;
  let outcome: PushOutcome;
  try {
    outcome = made.pushStarted && whmcs ? await pushMarked(deps, whmcs, client, batch, hooks) : await advance(deps, client, batch, hooks);
    await hooks?.afterRecord?.(outcome);
  } catch (error) {
    deps.logger.warn({ batchId: batch.batchId, err: describeError(error) }, 'billing push step failed');
    throw error;
  }
  if (outcome === 'zero' && service.desiredState === 'terminated') await reportCreditsLeft(deps, client, { serviceId });
  // A push this job started and recorded as pushed is `pushed` (the lock keeps everything else out): no re-read.
  if (made.pushStarted && outcome === 'pushed') return { outcome, batchId: batch.batchId, state: 'pushed' };
  const after = await getBatch(client, batch.batchId);
  return { outcome, batchId: batch.batchId, state: after?.state ?? null };
}

export async function handleBillingPush(deps: WorkerDeps, job: TypedJob<typeof BILLING_JOBS.pushBatch>): Promise<PushResult> {
  const data = job.data;
  return pushBillingBatch(deps, data.serviceId, data.period);
}
