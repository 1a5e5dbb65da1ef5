import type { Job } from 'bullmq';
import { BILLING_JOBS, billingRerateJobDataSchema, validatePayload } from '@ictvoip/queue';
import { formatMoney, parseMoney } from '@ictvoip/rating';
import {
  batchIdFor,
  dissolveBatch,
  inTransaction,
  insertAdjustment,
  listAdjustments,
  listBatches,
  listCharges,
  updateChargeRating,
  withBillingLock,
  type StoredCharge,
} from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { scopeForService } from '../../fusion-scope';
import { PermanentJobError } from '../../errors';
import { readCdrsByUuid } from '../cdr/cdr-reader';
import { loadServiceRating, rateInOrder } from '../cdr/service-rating';

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
}

const sumOf = (charges: readonly { amount: string | null }[]) => charges.reduce((sum, charge) => sum + (charge.amount === null ? 0n : parseMoney(charge.amount)), 0n);

/**
 * Re-rates one service's period with its current deck and plan, in call order (included minutes
 * re-consumed from the first call). Charges not in WHMCS are rewritten; charges already pushed (or
 * whose push is in doubt) are immutable: the difference becomes one `rerate` adjustment, billed
 * with the service's next batch. Repeating it changes nothing (the difference is then zero).
 */
export async function rerateServicePeriod(deps: WorkerDeps, serviceId: number, period: string): Promise<RerateOutcome> {
  const service = await deps.services.get(serviceId);
  if (!service) throw new PermanentJobError('SERVICE_UNKNOWN', `service ${serviceId} is not known to the bridge`);
  // The calls are re-read from the tenant's own server.
  const { fusionPool } = await scopeForService(deps, service);
  return withBillingLock(deps.pool, serviceId, (client) => inTransaction(client, async () => {
    const outcome: RerateOutcome = { serviceId, period, updated: 0, immutable: 0, missing: 0, adjustment: null, dissolvedBatch: null };
    const ownBatch = batchIdFor(serviceId, period);
    const batches = new Map((await listBatches(client, { serviceId })).map((batch) => [batch.batchId, batch]));
    const own = batches.get(ownBatch);
    if (own && (own.state === 'open' || own.state === 'failed') && (await dissolveBatch(client, ownBatch))) {
      outcome.dissolvedBatch = ownBatch;
      batches.delete(ownBatch);
    }
    const charges = await listCharges(client, { serviceId, period });
    const sources = await readCdrsByUuid(fusionPool, charges.map((charge) => charge.xmlCdrUuid), service.tenantDomain ?? '');
    const present = charges.filter((charge) => sources.has(charge.xmlCdrUuid));
    outcome.missing = charges.length - present.length;
    const rating = await loadServiceRating(client, service, deps.config);
    const rerated = await rateInOrder(rating, present.map((charge) => sources.get(charge.xmlCdrUuid)!), async () => rating.includedSeconds);
    const byUuid = new Map(present.map((charge) => [charge.xmlCdrUuid, charge]));
    const isImmutable = (charge: StoredCharge) => charge.batchId !== null && batches.has(charge.batchId);
    const frozenOld: StoredCharge[] = [];
    const frozenNew: { amount: string | null }[] = [];
    for (const charge of rerated) {
      const old = byUuid.get(charge.xmlCdrUuid)!;
      if (isImmutable(old)) {
        frozenOld.push(old);
        frozenNew.push(charge);
        continue;
      }
      await updateChargeRating(client, charge);
      outcome.updated += 1;
    }
    outcome.immutable = frozenOld.length;
    if (frozenOld.length === 0) return outcome;
    const earlier = await listAdjustments(client, { serviceId, sourcePeriod: period, kind: 'rerate' });
    const alreadyAdjusted = earlier.reduce((sum, adjustment) => sum + parseMoney(adjustment.amount, { allowNegative: true }), 0n);
    const difference = sumOf(frozenNew) - sumOf(frozenOld) - alreadyAdjusted;
    if (difference === 0n) return outcome;
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
    await deps.audit.append({ actor: 'billing', action: 'billing.rerate_adjustment', serviceId, detail: { period, amount } });
    outcome.adjustment = amount;
    return outcome;
  }));
}

export async function handleBillingRerate(deps: WorkerDeps, job: Job): Promise<RerateOutcome> {
  const data = validatePayload(billingRerateJobDataSchema, BILLING_JOBS.reratePeriod, job.data);
  return rerateServicePeriod(deps, data.serviceId, data.period);
}
