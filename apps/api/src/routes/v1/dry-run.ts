import Joi from 'joi';
import type { RecordedWrite, TransactionMode } from '@ictvoip/fusionpbx';
import { describeFreeswitchSide, type FreeswitchStep } from '@ictvoip/freeswitch';
import type { Response } from 'express';
import { withServiceLock } from '@ictvoip/store';
import type { RouteDefinition } from './define';
import { requireDomain, type TenantContext } from './tenant-context';

/**
 * `?dryRun=1` on every /v1 write route: the request goes through the same authentication, tenant
 * isolation, validation, locks and quota checks as the real one, its FusionPBX transaction is rolled
 * back instead of committed, and nothing is sent to the event socket. The answer lists the rows it
 * would have written (secrets masked) and the event-socket commands it would have sent.
 */

const DRY_RUN_QUERY = {
  dryRun: Joi.boolean().truthy('1').falsy('0').default(false).description('1 = answer 200 with the rows and event-socket commands this request would apply; write nothing'),
};

const DRY_RUN_RESPONSE = 'with dryRun=1: {dryRun:true, outcome, rows:[{table, op, key, columns}], eslCommands:[…], freeswitch:[step]}; nothing written';

export interface DryRunReply {
  dryRun: true;
  outcome: string;
  /** Every insert/update/delete the request would issue, in order; passwords, hashes and keys masked. */
  rows: RecordedWrite[];
  /** The event-socket commands, as the real run would send them (`{switchname}` is asked at apply time). */
  eslCommands: string[];
  /** The same as FreeSWITCH steps, the form the webhook dry-run reports. */
  freeswitch: FreeswitchStep[];
}

export function sendDryRun(res: Response, reply: Omit<DryRunReply, 'dryRun'>, extra: Record<string, unknown> = {}): void {
  res.status(200).json({ dryRun: true, ...reply, ...extra });
}

/**
 * Adds `dryRun` to a write route's query schema and its 200 answer, so validation and /openapi.json
 * both know it. A route that declared no query schema keeps accepting other query keys as before.
 */
export function withDryRunQuery(definition: RouteDefinition): RouteDefinition {
  const { spec } = definition;
  if (spec.method === 'get') return definition;
  const query = spec.query ? spec.query.keys(DRY_RUN_QUERY) : Joi.object(DRY_RUN_QUERY).unknown(true);
  const ok = spec.responses['200'];
  const responses = { ...spec.responses, '200': ok ? `${ok}; ${DRY_RUN_RESPONSE}` : DRY_RUN_RESPONSE };
  return { ...definition, spec: { ...spec, query, responses } };
}

/**
 * A write route's `?dryRun=1`: its FusionPBX write runs in this process (not as a job: nothing is
 * kept) under the service lock, in a transaction that is rolled back. `shown` picks the fields of
 * the result the answer includes (never a generated password: it was never stored).
 */
export async function previewWrite<R extends { outcome: string; freeswitch: FreeswitchStep[] }>(
  context: TenantContext,
  res: Response,
  work: (transaction: TransactionMode) => Promise<R>,
  shown: (result: R) => Record<string, unknown>,
): Promise<void> {
  requireDomain(context);
  const { deps } = context;
  const transaction = { rollback: true, recorder: [] as RecordedWrite[] };
  // Waited as long as API_LOCK_WAIT_MS says; a tenant still busy then is 503 TENANT_BUSY (lockBusyAnswer).
  const result = await withServiceLock(deps.pool, context.service.serviceId, () => work(transaction), deps.config.api.lockWaitMs);
  // Described with the cache options of the tenant's server, as the worker applies them there.
  const eslCommands = describeFreeswitchSide(result.freeswitch, { cache: deps.fusion.cacheOptions });
  sendDryRun(res, { outcome: result.outcome, rows: transaction.recorder, eslCommands, freeswitch: result.freeswitch }, shown(result));
}
