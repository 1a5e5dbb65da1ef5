import type { TENANT_WRITE_JOBS, TypedJob } from '@ictvoip/queue';
import {
  createTenantGateway,
  deleteTenantGateway,
  findTenantDomain,
  gatewayRemovalSteps,
  getTenantGateway,
  ResourceNotFoundError,
  updateTenantGateway,
  type GatewayFields,
  type GatewayWriteOptions,
} from '@ictvoip/fusionpbx';
import { GLOBAL_WRITE_SERVICE_ID, planLimits } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { attemptGlobalGateway } from './global-gateway-write';
import { runTenantWrite, runWriteJob, type ResourceWriteResult, type TenantWriteContext, type TenantWriteJobResult } from './run-tenant-write';

/** What a removal needs to know of the gateway once its row is gone. */
interface RemovedGateway {
  profile: string | null;
}

function optionsOf(ctx: TenantWriteContext): GatewayWriteOptions {
  return {
    serviceId: ctx.write.serviceId,
    maxGateways: planLimits(ctx.service).maxGateways,
    defaultMaxGateways: ctx.deps.config.api.defaultMaxGateways,
    gatewayUuid: ctx.write.target ?? undefined,
    forceApply: ctx.replay,
  };
}

/** The request's fields with its password, which was sealed apart from them. */
function fieldsOf(ctx: TenantWriteContext): GatewayFields {
  const fields = { ...(ctx.write.input.fields as GatewayFields | undefined) };
  if (ctx.secrets.password !== undefined) fields.password = ctx.secrets.password;
  return fields;
}

async function rememberGateway(ctx: TenantWriteContext, gatewayUuid: string): Promise<void> {
  if (ctx.write.preimage) return;
  const domain = await findTenantDomain(ctx.deps.fusionPool, ctx.write.serviceId);
  const before = domain ? await getTenantGateway(ctx.deps.fusionPool, domain.domainUuid, gatewayUuid, domain.managedGatewayUuid) : null;
  if (!before) return;
  const removed: RemovedGateway = { profile: before.profile };
  await ctx.deps.tenantWrites.keepPreimage(ctx.write.writeId, { ...removed });
}

async function removeGateway(ctx: TenantWriteContext, gatewayUuid: string): Promise<ResourceWriteResult> {
  await rememberGateway(ctx, gatewayUuid);
  try {
    const result = await deleteTenantGateway(ctx.deps.fusionPool, gatewayUuid, optionsOf(ctx));
    return { outcome: 'deleted', body: { gateway: null }, freeswitch: result.freeswitch };
  } catch (error) {
    // An earlier attempt removed it and died before storing the answer: the removal is done.
    const removed = ctx.write.preimage as RemovedGateway | null;
    if (!(ctx.replay && removed && error instanceof ResourceNotFoundError)) throw error;
    return { outcome: 'deleted', body: { gateway: null }, freeswitch: gatewayRemovalSteps(removed.profile, gatewayUuid) };
  }
}

/** Create, update or delete of one of the tenant's own gateways, written like gateway_edit.php. */
export async function writeGateway(ctx: TenantWriteContext): Promise<ResourceWriteResult> {
  const gatewayUuid = ctx.write.target ?? '';
  if (ctx.write.operation === 'delete') return removeGateway(ctx, gatewayUuid);
  const options = optionsOf(ctx);
  const result =
    ctx.write.operation === 'create'
      ? await createTenantGateway(ctx.deps.fusionPool, fieldsOf(ctx) as GatewayFields & { name: string; proxy: string }, options)
      : await updateTenantGateway(ctx.deps.fusionPool, gatewayUuid, fieldsOf(ctx), options);
  return { outcome: result.outcome, body: { gateway: result.gateway }, freeswitch: result.freeswitch };
}

export function gatewayWriteJob(deps: WorkerDeps, job: TypedJob<typeof TENANT_WRITE_JOBS.gateway>): Promise<TenantWriteJobResult> {
  // A server's global gateway (no tenant): same job, queue and tenant_writes row, the server's lock.
  if (job.data.serviceId === GLOBAL_WRITE_SERVICE_ID) return runWriteJob(deps, job, (write) => attemptGlobalGateway(deps, write));
  return runTenantWrite(deps, job, writeGateway);
}
