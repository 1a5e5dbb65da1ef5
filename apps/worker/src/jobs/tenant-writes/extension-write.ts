import type { TENANT_WRITE_JOBS, TypedJob } from '@ictvoip/queue';
import {
  deleteTenantExtension,
  extensionRemovalSteps,
  findTenantDomain,
  getTenantExtension,
  ResourceNotFoundError,
  writeTenantExtension,
  type ExtensionFields,
  type ExtensionWriteOptions,
} from '@ictvoip/fusionpbx';
import { planLimits } from '@ictvoip/store';
import type { WorkerDeps } from '../../deps';
import { runTenantWrite, type ResourceWriteResult, type TenantWriteContext, type TenantWriteJobResult } from './run-tenant-write';

/** What a removal needs to know of the extension once its rows are gone. */
interface RemovedExtension {
  extension: string;
  numberAlias: string | null;
  domainName: string;
}

function optionsOf(ctx: TenantWriteContext): ExtensionWriteOptions {
  return {
    serviceId: ctx.write.serviceId,
    maxEnabledExtensions: planLimits(ctx.service).maxExtensions,
    registrationProfile: ctx.deps.config.fusionpbx.registrationProfile,
    password: ctx.secrets.password,
    forceApply: ctx.replay,
    // A password reset (WHMCS client area): an update of an existing extension carrying the sealed new password.
    ...(ctx.write.input.resetPassword === true && ctx.secrets.password ? { newPassword: ctx.secrets.password } : {}),
  };
}

async function rememberExtension(ctx: TenantWriteContext, extension: string): Promise<void> {
  if (ctx.write.preimage) return;
  const domain = await findTenantDomain(ctx.deps.fusion.pool, ctx.write.serviceId);
  const before = domain ? await getTenantExtension(ctx.deps.fusion.pool, domain.domainUuid, extension) : null;
  if (!domain || !before) return;
  const removed: RemovedExtension = { extension, numberAlias: before.numberAlias, domainName: domain.domainName };
  await ctx.deps.tenantWrites.keepPreimage(ctx.write.writeId, { ...removed });
}

async function removeExtension(ctx: TenantWriteContext, extension: string): Promise<ResourceWriteResult> {
  await rememberExtension(ctx, extension);
  const options = optionsOf(ctx);
  try {
    const result = await deleteTenantExtension(ctx.deps.fusion.pool, extension, ctx.write.input.deleteVoicemail === true, options);
    return { outcome: 'deleted', body: { extension: null }, freeswitch: result.freeswitch };
  } catch (error) {
    // An earlier attempt removed it and died before storing the answer: the removal is done.
    const removed = ctx.write.preimage as RemovedExtension | null;
    if (!(ctx.replay && removed && error instanceof ResourceNotFoundError)) throw error;
    return {
      outcome: 'deleted',
      body: { extension: null },
      freeswitch: extensionRemovalSteps(removed.extension, removed.numberAlias, removed.domainName, options.registrationProfile),
    };
  }
}

/** Create, upsert or delete of one extension, written like extension_edit.php. */
export async function writeExtension(ctx: TenantWriteContext): Promise<ResourceWriteResult> {
  const extension = ctx.write.target ?? '';
  if (ctx.write.operation === 'delete') return removeExtension(ctx, extension);
  const fields = (ctx.write.input.fields ?? {}) as ExtensionFields;
  const mode = ctx.write.operation === 'create' ? 'create' : ctx.write.operation === 'update' ? 'update' : 'upsert';
  const result = await writeTenantExtension(ctx.deps.fusion.pool, extension, fields, mode, optionsOf(ctx));
  return { outcome: result.outcome, body: { extension: result.extension }, freeswitch: result.freeswitch };
}

export function extensionWriteJob(deps: WorkerDeps, job: TypedJob<typeof TENANT_WRITE_JOBS.extension>): Promise<TenantWriteJobResult> {
  return runTenantWrite(deps, job, writeExtension);
}
