import Joi from 'joi';
import {
  deleteTenantExtension,
  getTenantExtension,
  listTenantExtensions,
  writeTenantExtension,
  type ExtensionFields,
  type ExtensionWriteOptions,
  newSipPassword,
  type TransactionMode,
} from '@ictvoip/fusionpbx';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { callerIdNumber, extensionNumber, safeText, tenantParam } from './common-schemas';
import { previewWrite } from './dry-run';
import { PENDING_RESPONSE as PENDING, submitWrite } from './tenant-write';
import { planLimits, resolveTenant, type TenantContext, requireDomainScope } from './tenant-context';

/** The extension fields /v1 accepts; ictVoIP's manage.php validates its form with the same rules. */
export const EXTENSION_FIELDS = {
  numberAlias: extensionNumber.allow(null),
  callerIdName: safeText(80).allow(null),
  callerIdNumber: callerIdNumber.allow(null),
  outboundCallerIdName: safeText(80).allow(null),
  outboundCallerIdNumber: callerIdNumber.allow(null),
  voicemailEmail: Joi.string().email({ tlds: false }).max(255).allow(null),
  enabled: Joi.boolean(),
  description: safeText(255).allow(null),
};

const createBody = Joi.object({ extension: extensionNumber.required(), ...EXTENSION_FIELDS });
const updateBody = Joi.object(EXTENSION_FIELDS);
const tenantOnly = Joi.object({ tenant: tenantParam });
const tenantAndExtension = Joi.object({ tenant: tenantParam, extension: Joi.string().max(64).required() });

function writeOptions(context: TenantContext, transaction: TransactionMode): ExtensionWriteOptions {
  return {
    serviceId: context.service.serviceId,
    maxEnabledExtensions: planLimits(context.service).maxExtensions,
    registrationProfile: context.deps.config.fusionpbx.registrationProfile,
    transaction,
  };
}

export const listExtensionsRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/extensions',
    needsDomain: true,
    summary: 'Extensions of the tenant',
    params: tenantOnly,
    responses: { '200': '{data:[extension]}', '404': 'unknown tenant' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    res.json({ data: await listTenantExtensions(deps.fusion.pool, domain.domainUuid) });
  },
};

export const getExtensionRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/extensions/{extension}',
    needsDomain: true,
    summary: 'One extension',
    params: tenantAndExtension,
    responses: { '200': 'extension', '404': 'unknown tenant or extension' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    const extension = await getTenantExtension(deps.fusion.pool, domain.domainUuid, input.params.extension as string);
    if (!extension) throw new HttpError(404, 'NOT_FOUND', `extension ${String(input.params.extension)} not found`);
    res.json(extension);
  },
};

export const createExtensionRoute: RouteDefinition = {
  spec: {
    method: 'post',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/extensions',
    needsDomain: true,
    summary: 'Create an extension (the generated SIP password is in this answer only)',
    params: tenantOnly,
    body: createBody,
    responses: { '201': 'created and applied', '202': PENDING, '400': 'validation failed', '409': 'exists, quota exceeded, or tenant not active' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { extension, ...fields } = input.body as unknown as ExtensionFields & { extension: string };
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => writeTenantExtension(context.deps.fusion.pool, extension, fields, 'create', writeOptions(context, transaction)),
        (result) => ({ extension: result.extension }),
      );
    await submitWrite(context, res, { resource: 'extension', operation: 'create', target: extension, input: { fields } }, () => ({ secrets: { password: newSipPassword() } }));
  },
};

export const putExtensionRoute: RouteDefinition = {
  spec: {
    method: 'put',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/extensions/{extension}',
    needsDomain: true,
    summary: 'Create or update an extension (idempotent; omitted fields keep their value)',
    params: Joi.object({ tenant: tenantParam, extension: extensionNumber.required() }),
    body: updateBody,
    responses: { '200': 'updated or unchanged', '201': 'created', '202': PENDING, '400': 'validation failed', '409': 'alias in use, quota exceeded, or tenant not active' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const extension = input.params.extension as string;
    const fields = input.body as ExtensionFields;
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => writeTenantExtension(context.deps.fusion.pool, extension, fields, 'upsert', writeOptions(context, transaction)),
        (result) => ({ extension: result.extension }),
      );
    await submitWrite(context, res, { resource: 'extension', operation: 'upsert', target: extension, input: { fields } }, () => ({ secrets: { password: newSipPassword() } }));
  },
};

export const deleteExtensionRoute: RouteDefinition = {
  spec: {
    method: 'delete',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/extensions/{extension}',
    needsDomain: true,
    summary: 'Delete an extension (its mailbox stays unless deleteVoicemail=true)',
    params: tenantAndExtension,
    query: Joi.object({ deleteVoicemail: Joi.boolean().default(false) }),
    responses: { '204': 'deleted and applied', '202': PENDING, '404': 'unknown tenant or extension' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const extension = input.params.extension as string;
    const deleteVoicemail = input.query.deleteVoicemail as boolean;
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => deleteTenantExtension(context.deps.fusion.pool, extension, deleteVoicemail, writeOptions(context, transaction)),
        (result) => ({ extension: result.extension }),
      );
    await submitWrite(context, res, { resource: 'extension', operation: 'delete', target: extension, input: { deleteVoicemail } });
  },
};
