import Joi from 'joi';
import {
  deleteTenantExtension,
  getTenantExtension,
  listTenantExtensions,
  writeTenantExtension,
  type ExtensionFields,
  type ExtensionWriteOptions,
  type ExtensionWriteResult,
  type TransactionMode,
} from '@ictvoip/fusionpbx';
import { withServiceLock } from '@ictvoip/store';
import type { Response } from 'express';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { callerIdNumber, extensionNumber, safeText, tenantParam } from './common-schemas';
import { dryRunTransaction, sendDryRun } from './dry-run';
import { applyAfterWrite, writeOrigin, type WriteOrigin } from './freeswitch';
import { planLimits, requireDomain, resolveTenant, type TenantContext, requireDomainScope } from './tenant-context';

const fields = {
  numberAlias: extensionNumber.allow(null),
  callerIdName: safeText(80).allow(null),
  callerIdNumber: callerIdNumber.allow(null),
  outboundCallerIdName: safeText(80).allow(null),
  outboundCallerIdNumber: callerIdNumber.allow(null),
  voicemailEmail: Joi.string().email({ tlds: false }).max(255).allow(null),
  enabled: Joi.boolean(),
  description: safeText(255).allow(null),
};

const createBody = Joi.object({ extension: extensionNumber.required(), ...fields });
const updateBody = Joi.object(fields);
const tenantOnly = Joi.object({ tenant: tenantParam });
const tenantAndExtension = Joi.object({ tenant: tenantParam, extension: Joi.string().max(64).required() });

function writeOptions(deps: ApiDeps, context: TenantContext, transaction?: TransactionMode): ExtensionWriteOptions {
  return { serviceId: context.service.serviceId, maxEnabledExtensions: planLimits(context.service).maxExtensions, registrationProfile: deps.config.fusionpbx.registrationProfile, transaction };
}

/**
 * The write runs under the bridge's per-service lock (the one every provisioning job holds), then
 * inside FusionPBX under the provisioner's own locks; the FreeSWITCH side follows the commit.
 */
async function lockedWrite(deps: ApiDeps, context: TenantContext, work: () => Promise<ExtensionWriteResult>): Promise<ExtensionWriteResult> {
  requireDomain(context);
  return withServiceLock(deps.pool, context.service.serviceId, work, 10_000);
}

async function answer(deps: ApiDeps, res: Response, result: ExtensionWriteResult, okStatus: number, origin: WriteOrigin, dryRun?: TransactionMode): Promise<void> {
  // The generated SIP password of a dry-run create was never stored: it is not shown.
  if (dryRun) return sendDryRun(deps, res, result.outcome, dryRun.recorder ?? [], result.freeswitch, { extension: result.extension });
  const freeswitch = await applyAfterWrite(deps, result.freeswitch, origin);
  const status = freeswitch.applied ? okStatus : 202;
  if (result.outcome === 'deleted' && freeswitch.applied) {
    res.status(204).end();
    return;
  }
  res.status(status).json({ outcome: result.outcome, extension: result.extension, ...(result.password ? { password: result.password } : {}), freeswitch });
}

export const listExtensionsRoute: RouteDefinition = {
  spec: { method: 'get', path: '/v1/tenants/{tenant}/extensions', summary: 'Extensions of the tenant', params: tenantOnly, responses: { '200': '{data:[extension]}', '404': 'unknown tenant' } },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    res.json({ data: await listTenantExtensions(deps.fusionPool, domain.domainUuid) });
  },
};

export const getExtensionRoute: RouteDefinition = {
  spec: { method: 'get', path: '/v1/tenants/{tenant}/extensions/{extension}', summary: 'One extension', params: tenantAndExtension, responses: { '200': 'extension', '404': 'unknown tenant or extension' } },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    const extension = await getTenantExtension(deps.fusionPool, domain.domainUuid, input.params.extension as string);
    if (!extension) throw new HttpError(404, 'NOT_FOUND', `extension ${String(input.params.extension)} not found`);
    res.json(extension);
  },
};

export const createExtensionRoute: RouteDefinition = {
  spec: {
    method: 'post',
    path: '/v1/tenants/{tenant}/extensions',
    summary: 'Create an extension (the generated SIP password is in this answer only)',
    params: tenantOnly,
    body: createBody,
    responses: { '201': 'created and applied', '202': 'created; FreeSWITCH not reached yet: queued for a worker (freeswitch.job.url)', '400': 'validation failed', '409': 'exists, quota exceeded, or tenant not active' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { deps } = context;
    const { extension, ...rest } = input.body as unknown as ExtensionFields & { extension: string };
    const preview = dryRunTransaction(dryRun);
    const result = await lockedWrite(deps, context, () => writeTenantExtension(deps.fusionPool, extension, rest, 'create', writeOptions(deps, context, preview)));
    await answer(deps, res, result, 201, writeOrigin(context, res), preview);
  },
};

export const putExtensionRoute: RouteDefinition = {
  spec: {
    method: 'put',
    path: '/v1/tenants/{tenant}/extensions/{extension}',
    summary: 'Create or update an extension (idempotent; omitted fields keep their value)',
    params: Joi.object({ tenant: tenantParam, extension: extensionNumber.required() }),
    body: updateBody,
    responses: { '200': 'updated or unchanged', '201': 'created', '202': 'written; FreeSWITCH not reached yet: queued for a worker (freeswitch.job.url)', '400': 'validation failed', '409': 'alias in use, quota exceeded, or tenant not active' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { deps } = context;
    const preview = dryRunTransaction(dryRun);
    const result = await lockedWrite(deps, context, () => writeTenantExtension(deps.fusionPool, input.params.extension as string, input.body as ExtensionFields, 'upsert', writeOptions(deps, context, preview)));
    await answer(deps, res, result, result.outcome === 'created' ? 201 : 200, writeOrigin(context, res), preview);
  },
};

export const deleteExtensionRoute: RouteDefinition = {
  spec: {
    method: 'delete',
    path: '/v1/tenants/{tenant}/extensions/{extension}',
    summary: 'Delete an extension (its mailbox stays unless deleteVoicemail=true)',
    params: tenantAndExtension,
    query: Joi.object({ deleteVoicemail: Joi.boolean().default(false) }),
    responses: { '204': 'deleted and applied', '202': 'deleted; FreeSWITCH not reached yet: queued for a worker (freeswitch.job.url)', '404': 'unknown tenant or extension' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { deps } = context;
    const preview = dryRunTransaction(dryRun);
    const result = await lockedWrite(deps, context, () => deleteTenantExtension(deps.fusionPool, input.params.extension as string, input.query.deleteVoicemail as boolean, writeOptions(deps, context, preview)));
    await answer(deps, res, result, 204, writeOrigin(context, res), preview);
  },
};
