import { withDeadline } from '@ictvoip/config';
import { createGlobalGateway, updateGlobalGateway, type GatewayFields } from '@ictvoip/fusionpbx';
import { applyFreeswitchSide } from '@ictvoip/freeswitch';
import { DEFAULT_FUSION_SERVER, openSecrets, withServerLock, type TenantWrite, type TenantWriteOutcome } from '@ictvoip/store';
import type { ScopedDeps, WorkerDeps } from '../../deps';
import { EslDeadlineError, PermanentJobError } from '../../errors';
import { permanentWhenServerUnavailable } from '../../fusion-scope';
import { succeeded, type ResourceWriteResult } from './run-tenant-write';

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
 * A global gateway's write (ictVoIP's provision.php naming no tenant): the row gateway_edit.php
 * saves for domain "Global", under the server's lock instead of a service's. Its FreeSWITCH side
 * has no tenant backlog to join, so it is sent at once; when the event socket fails the job is
 * retried, and the replay (row already written) sends the side again.
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
      const ms = deps.config.api.eslDeadlineMs;
      if (result.freeswitch.length > 0) {
        await withDeadline(applyFreeswitchSide(scoped.fusion.esl, result.freeswitch, { cache: scoped.fusion.cacheOptions }), ms, () => new EslDeadlineError(ms));
      }
      return succeeded(result, { applied: true });
    },
    deps.config.worker.writeLockWaitMs,
  );
}
