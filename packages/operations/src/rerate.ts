import { formatMoney, parseMoney } from '@ictvoip/rating';
import {
  batchIdFor,
  dissolveBatch,
  inTransaction,
  insertAdjustment,
  listAdjustments,
  listBatches,
  listCharges,
  releasedHoldsOfPeriod,
  updateChargeRating,
  withBillingLock,
  type ReleasedHold,
  type StoredCharge,
} from '@ictvoip/store';
import { readCdrsByUuid } from './cdr-reader';
import type { OperationsDeps } from './deps';
import { PermanentJobError } from './errors';
import { loadServiceRating, rateInOrder } from './service-rating';

export interface RerateOutcome {
  serviceId: number;
  period: string;
  /** charges rewritten in place (not yet in WHMCS) */
  updated: number;
  /** charges in a pushed (or in-doubt) batch: left as they are, difference as an adjustment */
  immutable: number;
  /** CDRs no longer in FusionPBX: kept with their old rating */
  missing: number;
  /** the adjustment made for pushed charges, decimal string, or null when there was no difference */
  adjustment: string | null;
  /** a not-yet-pushed batch of this period that was undone so the close makes it again */
  dissolvedBatch: string | null;
  /**
   * Rewritten calls a prepaid invoice released for its client's currency (billing prepaid-release) held, still rated in
   * that invoice's currency: no longer held, the next prepaid run puts them on a new invoice held again. Absent when
   * there are none: give the service a deck in the client's currency and re-rate again.
   */
  releasedCurrency?: ReleasedCurrencyWarning;
  /** dry-run only: the rewritten charges whose amount or status would change (amounts as decimal strings) */
  changes?: RerateChange[];
}

export interface ReleasedCurrencyWarning {
  calls: number;
  /** the currencies the calls were held in and are still in (sorted) */
  currencies: string[];
  /** the released (abandoned) invoices that held them (sorted) */
  invoiceKeys: string[];
}

export interface RerateChange {
  xmlCdrUuid: string;
  from: { amount: string | null; status: string };
  to: { amount: string | null; status: string };
  /** already in WHMCS: the charge stays as it is and the difference goes into the adjustment */
  invoiced?: true;
}

/** What a re-rate reads and writes; a dry-run needs no queue, event socket or WHMCS. */
/** With `targets` the calls are read from the service's own server; without, from `fusionPool` (the CLI passes that server's pool). */
export type RerateDeps = Pick<OperationsDeps, 'services' | 'pool' | 'config' | 'audit'> &
  ({ targets: NonNullable<OperationsDeps['targets']> } | { fusionPool: OperationsDeps['fusionPool'] });

export interface RerateOptions {
  /** Run everything in the transaction, then roll it back: the outcome says what would change. */
  dryRun?: boolean;
}

/** Thrown inside the dry-run's transaction so inTransaction rolls it back; carries the outcome out. */
class RolledBack extends Error {
  constructor(readonly outcome: RerateOutcome) {
    super('dry-run rolled back');
  }
}

const sumOf = (charges: readonly { amount: string | null }[]) => charges.reduce((sum, charge) => sum + (charge.amount === null ? 0n : parseMoney(charge.amount)), 0n);

/**
 * Re-rates one service's period with its current deck and plan, in call order (included minutes
 * re-consumed from the first call). Charges not in WHMCS are rewritten; charges already pushed (or
 * whose push is in doubt) are immutable: the difference becomes one `rerate` adjustment, billed
 * with the service's next batch. Repeating it changes nothing (the difference is then zero).
 * With `dryRun` the same work runs and is rolled back (no audit line): the outcome is the preview.
 */
export async function rerateServicePeriod(deps: RerateDeps, serviceId: number, period: string, options: RerateOptions = {}): Promise<RerateOutcome> {
  const service = await deps.services.get(serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${serviceId} is not known to the bridge`);
  // The calls are re-read from the tenant's own server (the CLI's dry-run passes that server's pool as fusionPool).
  const fusionPool = 'targets' in deps ? (await deps.targets.get(service.fusionpbxServer)).pool : deps.fusionPool;
  const dryRun = options.dryRun === true;
  const finish = (outcome: RerateOutcome): RerateOutcome => {
    if (dryRun) throw new RolledBack(outcome);
    return outcome;
  };
  return withBillingLock(deps.pool, serviceId, (client) =>
    inTransaction(client, async () => {
      const outcome: RerateOutcome = { serviceId, period, updated: 0, immutable: 0, missing: 0, adjustment: null, dissolvedBatch: null, ...(dryRun ? { changes: [] } : {}) };
      const ownBatch = batchIdFor(serviceId, period);
      const batches = new Map((await listBatches(client, { serviceId })).map((batch) => [batch.batchId, batch]));
      const own = batches.get(ownBatch);
      if (own && (own.state === 'open' || own.state === 'failed') && (await dissolveBatch(client, ownBatch))) {
        outcome.dissolvedBatch = ownBatch;
        batches.delete(ownBatch);
      }
      const charges = await listCharges(client, { serviceId, period });
      const sources = await readCdrsByUuid(
        fusionPool,
        charges.map((charge) => charge.xmlCdrUuid),
        service.tenantDomain ?? '',
      );
      const present = charges.filter((charge) => sources.has(charge.xmlCdrUuid));
      outcome.missing = charges.length - present.length;
      const rating = await loadServiceRating(client, service, deps.config);
      const rerated = await rateInOrder(
        rating,
        present.map((charge) => sources.get(charge.xmlCdrUuid)!),
        async () => rating.includedSeconds,
      );
      const byUuid = new Map(present.map((charge) => [charge.xmlCdrUuid, charge]));
      const isImmutable = (charge: StoredCharge) => charge.batchId !== null && batches.has(charge.batchId);
      // Read before the calls are rewritten: rated again, none of them is held any more.
      const held = await releasedHoldsOfPeriod(client, serviceId, period);
      const frozenOld: StoredCharge[] = [];
      const frozenNew: { amount: string | null }[] = [];
      const rewritten: { xmlCdrUuid: string; currency: string | null; status: string }[] = [];
      for (const charge of rerated) {
        const old = byUuid.get(charge.xmlCdrUuid)!;
        // On a prepaid invoice it stays as invoiced (updateChargeRating leaves it): neither rewritten nor adjusted, so not
        // counted or shown as a change. (Still rated above: it used its included minutes first, in call order.)
        if (old.prepaidInvoice !== null) continue;
        if (isImmutable(old)) {
          frozenOld.push(old);
          frozenNew.push(charge);
          // Shown too, so the adjustment below can be followed call by call.
          if (old.amount !== charge.amount || old.status !== charge.status) {
            outcome.changes?.push({
              xmlCdrUuid: charge.xmlCdrUuid,
              from: { amount: old.amount, status: old.status },
              to: { amount: charge.amount, status: charge.status },
              invoiced: true,
            });
          }
          continue;
        }
        await updateChargeRating(client, charge);
        rewritten.push(charge);
        outcome.updated += 1;
        if (old.amount !== charge.amount || old.status !== charge.status) {
          outcome.changes?.push({ xmlCdrUuid: charge.xmlCdrUuid, from: { amount: old.amount, status: old.status }, to: { amount: charge.amount, status: charge.status } });
        }
      }
      const warning = stillInReleasedCurrency(held, rewritten);
      if (warning) outcome.releasedCurrency = warning;
      outcome.immutable = frozenOld.length;
      if (frozenOld.length === 0) return finish(outcome);
      const earlier = await listAdjustments(client, { serviceId, sourcePeriod: period, kind: 'rerate' });
      const alreadyAdjusted = earlier.reduce((sum, adjustment) => sum + parseMoney(adjustment.amount, { allowNegative: true }), 0n);
      const difference = sumOf(frozenNew) - sumOf(frozenOld) - alreadyAdjusted;
      if (difference === 0n) return finish(outcome);
      const amount = formatMoney(difference);
      await insertAdjustment(client, {
        adjustmentId: `rerate-${serviceId}-${period}-${earlier.length + 1}`,
        serviceId,
        kind: 'rerate',
        amount,
        currency: rating.deck?.currency ?? frozenOld[0]?.currency ?? null,
        sourcePeriod: period,
        description: `re-rating of ${period} after it was invoiced`,
      });
      outcome.adjustment = amount;
      if (dryRun) return finish(outcome);
      await deps.audit.append({ actor: 'billing', action: 'billing.rerate_adjustment', serviceId, detail: { period, amount } });
      return outcome;
    }),
  ).catch((error: unknown) => {
    if (error instanceof RolledBack) return error.outcome;
    throw error;
  });
}

/**
 * The calls a release held (`held`, read before the rewrite) that the re-rate left rated in the currency they were held
 * in, or null. Rated after the release they are no longer held, and go on a new prepaid invoice WHMCS refuses again: the
 * operator is told now, not at the next run. Only those: a call no release held (a later period's, or one re-rated before)
 * is not moved by this re-rate, and a released invoice's currency may be the one the client pays in now (changed in
 * WHMCS since), so "in the currency of any released invoice" warned of calls no invoice will refuse.
 */
function stillInReleasedCurrency(
  held: ReadonlyMap<string, ReleasedHold>,
  rewritten: readonly { xmlCdrUuid: string; currency: string | null; status: string }[],
): ReleasedCurrencyWarning | null {
  const still = rewritten.flatMap((charge) => {
    const hold = held.get(charge.xmlCdrUuid);
    return hold && charge.status === 'rated' && charge.currency?.trim() === hold.currency ? [hold] : [];
  });
  if (still.length === 0) return null;
  const currencies = [...new Set(still.map((hold) => hold.currency))].sort();
  const invoiceKeys = [...new Set(still.flatMap((hold) => hold.invoiceKeys))].sort();
  return { calls: still.length, currencies, invoiceKeys };
}
