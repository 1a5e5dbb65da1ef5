import type { TENANT_WRITE_JOBS, TypedJob } from '@ictvoip/queue';
import {
  createTenantGateway,
  CreditRestrictedError,
  deleteTenantGateway,
  findTenantDomain,
  gatewayRemovalSteps,
  getTenantGateway,
  ResourceNotFoundError,
  updateTenantGateway,
  type GatewayFields,
  type GatewayWriteOptions,
} from '@ictvoip/fusionpbx';
import { getCreditState, GLOBAL_WRITE_SERVICE_ID, outboundRestricted, planLimits, withCreditLock } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { attemptGlobalGateway } from './global-gateway-write';
import { runTenantWrite, runWriteJob, type ResourceWriteResult, type TenantWriteContext, type TenantWriteJobResult, type WriteGuard } from './run-tenant-write';

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

/** The gateway as it stands in the tenant's domain, before this write; null when there is none. */
async function gatewayBefore(ctx: TenantWriteContext, gatewayUuid: string) {
  const domain = await findTenantDomain(ctx.deps.fusion.pool, ctx.write.serviceId);
  return domain ? await getTenantGateway(ctx.deps.fusion.pool, domain.domainUuid, gatewayUuid, domain.managedGatewayUuid) : null;
}

async function rememberGateway(ctx: TenantWriteContext, gatewayUuid: string): Promise<void> {
  if (ctx.write.preimage) return;
  const before = await gatewayBefore(ctx, gatewayUuid);
  if (!before) return;
  const removed: RemovedGateway = { profile: before.profile };
  await ctx.deps.tenantWrites.keepPreimage(ctx.write.writeId, { ...removed });
}

async function removeGateway(ctx: TenantWriteContext, gatewayUuid: string): Promise<ResourceWriteResult> {
  await rememberGateway(ctx, gatewayUuid);
  try {
    const result = await deleteTenantGateway(ctx.deps.fusion.pool, gatewayUuid, optionsOf(ctx));
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
      ? await createTenantGateway(ctx.deps.fusion.pool, fieldsOf(ctx) as GatewayFields & { name: string; proxy: string }, options)
      : await updateTenantGateway(ctx.deps.fusion.pool, gatewayUuid, fieldsOf(ctx), options);
  return { outcome: result.outcome, body: { gateway: result.gateway }, freeswitch: result.freeswitch };
}

/** What the write would switch on: a new enabled gateway, or a stopped one enabled; null when nothing. */
async function switchedOn(ctx: TenantWriteContext): Promise<string | null> {
  const fields = fieldsOf(ctx);
  if (ctx.write.operation === 'create') return fields.enabled === false ? null : `an enabled new gateway ${fields.name ?? ''}`.trimEnd();
  if (ctx.write.operation !== 'update' || fields.enabled !== true) return null;
  const gatewayUuid = ctx.write.target ?? '';
  const before = await gatewayBefore(ctx, gatewayUuid);
  // A gateway the restriction kept up (it carries an emergency route) may be written as it is.
  return before?.enabled ? null : `switching gateway ${gatewayUuid} on`;
}

/**
 * The API refuses a gateway switched on while credit control restricts the tenant, but a restriction
 * decided after that answer and before this job would be undone until the next check. So a write that
 * switches a gateway on holds the client's credit lock (the one a check records its restriction under)
 * over its check, FusionPBX write and FreeSWITCH side: a restriction decided first refuses it (409
 * CREDIT_RESTRICTED, nothing written); one decided after finds the gateway on and stops it.
 */
const creditGuard: WriteGuard = async (ctx, work) => {
  const what = await switchedOn(ctx);
  if (!what) return work();
  return withCreditLock(
    ctx.deps.pool,
    ctx.service.clientId,
    async (client) => {
      if (outboundRestricted(await getCreditState(client, ctx.write.serviceId))) throw new CreditRestrictedError(ctx.write.serviceId, what);
      return work();
    },
    ctx.deps.config.worker.writeLockWaitMs,
  );
};

export function gatewayWriteJob(deps: WorkerDeps, job: TypedJob<typeof TENANT_WRITE_JOBS.gateway>): Promise<TenantWriteJobResult> {
  // A server's global gateway (no tenant): same job, queue and tenant_writes row, the server's lock.
  if (job.data.serviceId === GLOBAL_WRITE_SERVICE_ID) return runWriteJob(deps, job, (write) => attemptGlobalGateway(deps, write));
  return runTenantWrite(deps, job, writeGateway, creditGuard);
}
