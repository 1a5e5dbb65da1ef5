import type { TENANT_WRITE_JOBS, TypedJob } from '@ictvoip/queue';
import {
  createTenantDestination,
  deleteTenantDestination,
  destinationWriteOptions,
  updateTenantDestination,
  type DestinationFields,
  type DestinationWriteOptions,
} from '@ictvoip/fusionpbx';
import type { WorkerDeps } from '../../deps';
import { runTenantWrite, type ResourceWriteResult, type TenantWriteContext, type TenantWriteJobResult } from './run-tenant-write';

/** Create, change or removal of one of the tenant's inbound numbers, written like destination_edit.php. */
export async function writeDestination(ctx: TenantWriteContext): Promise<ResourceWriteResult> {
  const number = ctx.write.target ?? '';
  const options: DestinationWriteOptions = {
    ...destinationWriteOptions(ctx.service.serviceId, ctx.service.plan as Record<string, unknown>, ctx.deps.config.api.defaultMaxDestinations),
    replay: ctx.replay,
  };
  const fields = (ctx.write.input.fields ?? {}) as DestinationFields;
  const result =
    ctx.write.operation === 'create'
      ? await createTenantDestination(ctx.deps.fusion.pool, number, fields, options)
      : ctx.write.operation === 'delete'
        ? await deleteTenantDestination(ctx.deps.fusion.pool, number, options)
        : await updateTenantDestination(ctx.deps.fusion.pool, number, fields, options);
  return { outcome: result.outcome, body: { destination: result.destination }, freeswitch: result.freeswitch };
}

export function destinationWriteJob(deps: WorkerDeps, job: TypedJob<typeof TENANT_WRITE_JOBS.destination>): Promise<TenantWriteJobResult> {
  return runTenantWrite(deps, job, writeDestination);
}
