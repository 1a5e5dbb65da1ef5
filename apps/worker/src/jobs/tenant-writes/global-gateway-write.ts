import { withDeadline } from '@ictvoip/config';
import { createGlobalGateway, updateGlobalGateway, type GatewayFields } from '@ictvoip/fusionpbx';
import { applyFreeswitchSide, type FreeswitchStep } from '@ictvoip/freeswitch';
import { DEFAULT_FUSION_SERVER, openSecrets, withServerLock, type TenantWrite, type TenantWriteOutcome } from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from '../../deps';
import { EslDeadlineError, PermanentJobError } from '../../errors';
import { permanentWhenServerUnavailable } from '../../fusion-scope';
import { oweGlobalApply } from '../freeswitch/global-apply';
import { queuedFreeswitch, succeeded, type FreeswitchOutcome, type ResourceWriteResult } from './run-tenant-write';

/** The stored server name of a global write (null: the default server), as the API recorded it. */
function serverOf(write: TenantWrite): string | null {
  const server = write.input.server;
  if (server === null || server === undefined) return null;
  if (typeof server !== 'string') throw new PermanentJobError('WRITE_INVALID', `global write ${write.writeId} names no FusionPBX server`);
  return server;
}

function fieldsOf(deps: WorkerDeps, write: TenantWrite): GatewayFields {
  const fields = { ...(write.input.fields as GatewayFields | undefined) };
  const secrets = write.sealedSecrets ? openSecrets(write.sealedSecrets, deps.config.sealing) : {};
  if (secrets.password !== undefined) fields.password = secrets.password;
  return fields;
}

async function writeRow(scoped: ScopedDeps, write: TenantWrite, fields: GatewayFields): Promise<ResourceWriteResult> {
  // A later attempt may follow one that committed and died before FreeSWITCH heard of it.
  const replay = write.attempts > 1;
  const result =
    write.operation === 'create'
      ? await createGlobalGateway(scoped.fusion.pool, fields as GatewayFields & { name: string; proxy: string }, { gatewayUuid: write.target ?? undefined })
      : await updateGlobalGateway(scoped.fusion.pool, write.target ?? '', fields, { forceApply: replay });
  return { outcome: result.outcome, body: { gateway: result.gateway }, freeswitch: result.freeswitch };
}

/**
 * The FreeSWITCH side of a committed global write, sent at once within API_ESL_DEADLINE_MS. When the
 * event socket does not answer in time or refuses a step (the profile's rescan, a cache delete), the
 * row stays written: the steps are kept in PostgreSQL and go to a `freeswitch.apply` job for the
 * server (retried, and added again by the reconciler, as a tenant's backlog is), and the answer is
 * the write's success with that warning, not a failure a client would send again into a duplicate.
 * Only an error without a code (a bug) fails the write job.
 */
async function applyGlobalFreeswitch(deps: WorkerDeps, scoped: ScopedDeps, write: TenantWrite, server: string | null, steps: FreeswitchStep[]): Promise<FreeswitchOutcome> {
  if (steps.length === 0) return { applied: true };
  const ms = deps.config.api.eslDeadlineMs;
  try {
    await withDeadline(applyFreeswitchSide(scoped.fusion.esl, steps, { cache: scoped.fusion.cacheOptions }), ms, () => new EslDeadlineError(ms));
    return { applied: true };
  } catch (error) {
    if (!(error instanceof Error && 'code' in error)) throw error;
    const jobId = await oweGlobalApply(deps, { writeId: write.writeId, requestId: write.requestId, server, steps });
    deps.logger.warn({ err: error.message, writeId: write.writeId, server, steps: steps.length, applyJob: jobId }, 'FreeSWITCH side of a global gateway write queued');
    return queuedFreeswitch(error.message, jobId);
  }
}

/**
 * A global gateway's write (ictVoIP's provision.php naming no tenant): the row gateway_edit.php
 * saves for domain "Global", under the server's lock instead of a service's. Its FreeSWITCH side has
 * no tenant backlog to join: it is sent at once, else left to its own job (applyGlobalFreeswitch).
 * A replay (a worker died after the commit, row already written) sends the side again.
 */
export async function attemptGlobalGateway(deps: WorkerDeps, write: TenantWrite): Promise<TenantWriteOutcome> {
  if (write.operation !== 'create' && write.operation !== 'update') throw new PermanentJobError('WRITE_INVALID', `global gateway ${write.operation} is not supported`);
  const server = serverOf(write);
  const scoped: ScopedDeps = { ...deps, fusion: await deps.targets.get(server).catch(permanentWhenServerUnavailable) };
  const fields = fieldsOf(deps, write);
  return withServerLock(
    deps.pool,
    server ?? DEFAULT_FUSION_SERVER,
    async () => {
      const result = await writeRow(scoped, write, fields);
      return succeeded(result, await applyGlobalFreeswitch(deps, scoped, write, server, result.freeswitch));
    },
    deps.config.worker.writeLockWaitMs,
  );
}
