import { randomUUID } from 'node:crypto';
import Joi from 'joi';
import {
  createTenantGateway,
  deleteTenantGateway,
  getTenantGateway,
  listTenantGateways,
  updateTenantGateway,
  type GatewayFields,
  type GatewayWriteOptions,
  type TransactionMode,
} from '@ictvoip/fusionpbx';
import { parseGatewayStatus, GatewayStatusError } from '@ictvoip/freeswitch';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { refuseGatewayWhileCreditRestricted } from './credit-restriction';
import { safeText, tenantParam } from './common-schemas';
import { previewWrite } from './dry-run';
import { withEslDeadline } from './freeswitch';
import { PENDING_RESPONSE as PENDING, submitWrite } from './tenant-write';
import { planLimits, resolveTenant, type TenantContext, requireDomainScope } from './tenant-context';

const host = Joi.string()
  .max(255)
  .pattern(/^[A-Za-z0-9.:[\]_-]+$/, 'host[:port]');
const sipToken = Joi.string()
  .max(255)
  .pattern(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
const name = Joi.string()
  .max(100)
  .pattern(/^[A-Za-z0-9 ._-]+$/, 'letters, digits, space . _ -');
const profile = Joi.string()
  .max(64)
  .pattern(/^[A-Za-z0-9_.-]+$/, 'profile name');

/** The gateway fields /v1 accepts; ictVoIP's provision.php validates its form with the same rules. */
export const GATEWAY_FIELDS = {
  name,
  proxy: host,
  register: Joi.boolean(),
  username: sipToken.allow(null),
  password: sipToken.allow(null).description('write-only; answers show passwordSet'),
  authUsername: sipToken.allow(null),
  realm: host.allow(null),
  fromUser: sipToken.allow(null),
  fromDomain: host.allow(null),
  registerTransport: Joi.string().valid('udp', 'tcp', 'tls').allow(null),
  expireSeconds: Joi.number().integer().min(60).max(86400),
  retrySeconds: Joi.number().integer().min(5).max(86400),
  callerIdInFrom: Joi.boolean().allow(null),
  context: Joi.string()
    .max(100)
    .pattern(/^[A-Za-z0-9_.-]+$/, 'context name'),
  profile,
  channels: Joi.number().integer().min(0).max(10000),
  enabled: Joi.boolean(),
  description: safeText(255).allow(null),
};

const gatewayParams = Joi.object({
  tenant: tenantParam,
  gateway: Joi.string()
    .guid({ version: ['uuidv4', 'uuidv1', 'uuidv5'] })
    .lowercase()
    .required(),
});

function writeOptions(context: TenantContext, transaction: TransactionMode): GatewayWriteOptions {
  return {
    serviceId: context.service.serviceId,
    maxGateways: planLimits(context.service).maxGateways,
    defaultMaxGateways: context.deps.config.api.defaultMaxGateways,
    transaction,
  };
}

/** The request's fields for the write's row, its password apart (sealed); an explicit null password is no secret. */
export function splitPassword(body: GatewayFields): { input: Record<string, unknown>; secrets?: Record<string, string> } {
  const { password, ...fields } = body;
  if (typeof password === 'string') return { input: { fields }, secrets: { password } };
  return { input: { fields: password === null ? { ...fields, password: null } : fields } };
}

export const listGatewaysRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/gateways',
    needsDomain: true,
    summary: 'Gateways of the tenant',
    params: Joi.object({ tenant: tenantParam }),
    bucket: 'gateways',
    responses: { '200': '{data:[gateway]}', '404': 'unknown tenant' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    res.json({ data: await listTenantGateways(deps.fusion.pool, domain.domainUuid, domain.managedGatewayUuid) });
  },
};

export const getGatewayRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/gateways/{gateway}',
    needsDomain: true,
    summary: 'One gateway',
    params: gatewayParams,
    bucket: 'gateways',
    responses: { '200': 'gateway', '404': 'unknown tenant or gateway' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    const gateway = await getTenantGateway(deps.fusion.pool, domain.domainUuid, input.params.gateway as string, domain.managedGatewayUuid);
    if (!gateway) throw new HttpError(404, 'NOT_FOUND', `gateway ${String(input.params.gateway)} not found`);
    res.json(gateway);
  },
};

export const createGatewayRoute: RouteDefinition = {
  spec: {
    method: 'post',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/gateways',
    needsDomain: true,
    summary: 'Create a gateway (sofia.conf cache delete + profile rescan)',
    params: Joi.object({ tenant: tenantParam }),
    body: Joi.object({ ...GATEWAY_FIELDS, name: name.required(), proxy: host.required() }),
    bucket: 'gateways',
    responses: {
      '201': 'created and applied',
      '202': PENDING,
      '400': 'validation failed',
      '409': 'name in use, quota exceeded, tenant not active, or (enabled) restricted for low credit',
    },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const body = input.body as unknown as GatewayFields & { name: string; proxy: string };
    if (body.enabled !== false) await refuseGatewayWhileCreditRestricted(context, 'an enabled new gateway');
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => createTenantGateway(context.deps.fusion.pool, body, writeOptions(context, transaction)),
        (result) => ({ gateway: result.gateway }),
      );
    await submitWrite(context, res, { resource: 'gateway', operation: 'create', target: null, ...splitPassword(body) }, () => ({ target: randomUUID() }));
  },
};

export const updateGatewayRoute: RouteDefinition = {
  spec: {
    method: 'put',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/gateways/{gateway}',
    needsDomain: true,
    summary: 'Change a gateway (idempotent; killgw + startgw when something changed)',
    params: gatewayParams,
    body: Joi.object(GATEWAY_FIELDS),
    bucket: 'gateways',
    responses: {
      '200': 'updated or unchanged',
      '202': PENDING,
      '400': 'validation failed',
      '404': 'unknown gateway',
      '409': 'managed by the plan, name in use, or switched on while restricted for low credit',
    },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const gatewayUuid = input.params.gateway as string;
    const body = input.body as GatewayFields;
    if (body.enabled === true) {
      const { deps, domain } = requireDomainScope(context);
      const isOn = async () => (await getTenantGateway(deps.fusion.pool, domain.domainUuid, gatewayUuid, domain.managedGatewayUuid))?.enabled === true;
      await refuseGatewayWhileCreditRestricted(context, `switching gateway ${gatewayUuid} on`, isOn);
    }
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => updateTenantGateway(context.deps.fusion.pool, gatewayUuid, body, writeOptions(context, transaction)),
        (result) => ({ gateway: result.gateway }),
      );
    await submitWrite(context, res, { resource: 'gateway', operation: 'update', target: gatewayUuid, ...splitPassword(body) });
  },
};

export const deleteGatewayRoute: RouteDefinition = {
  spec: {
    method: 'delete',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/gateways/{gateway}',
    needsDomain: true,
    summary: 'Delete a gateway (killgw, row, sofia.conf cache delete)',
    params: gatewayParams,
    bucket: 'gateways',
    responses: { '204': 'deleted and applied', '202': PENDING, '404': 'unknown gateway', '409': 'managed by the plan' },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const gatewayUuid = input.params.gateway as string;
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => deleteTenantGateway(context.deps.fusion.pool, gatewayUuid, writeOptions(context, transaction)),
        (result) => ({ gateway: result.gateway }),
      );
    await submitWrite(context, res, { resource: 'gateway', operation: 'delete', target: gatewayUuid, input: {} });
  },
};

export const gatewayStatusRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/gateways/{gateway}/status',
    needsDomain: true,
    summary: 'Live gateway state from `sofia xmlstatus gateway <uuid>` (running=false when FreeSWITCH does not run it)',
    params: gatewayParams,
    bucket: 'gateways',
    responses: { '200': '{gatewayUuid, enabled, running, state, status, …}', '404': 'unknown gateway', '502': 'unreadable reply', '503': 'event socket down or slow; Retry-After' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    const gatewayUuid = input.params.gateway as string;
    const gateway = await getTenantGateway(deps.fusion.pool, domain.domainUuid, gatewayUuid, domain.managedGatewayUuid);
    if (!gateway) throw new HttpError(404, 'NOT_FOUND', `gateway ${gatewayUuid} not found`);
    const status = await withEslDeadline(deps, async () => {
      const first = parseGatewayStatus(await deps.fusion.esl.api(`sofia xmlstatus gateway ${gatewayUuid}`, { allowErr: true }));
      // gateways.php retries upper-cased: older FusionPBX wrote gateway names in upper case.
      if (first.running) return first;
      return parseGatewayStatus(await deps.fusion.esl.api(`sofia xmlstatus gateway ${gatewayUuid.toUpperCase()}`, { allowErr: true }));
    }).catch((error: unknown) => {
      if (error instanceof GatewayStatusError) throw new HttpError(502, 'FREESWITCH_ERROR', error.message);
      throw error;
    });
    res.json({ gatewayUuid, name: gateway.name, enabled: gateway.enabled, ...status });
  },
};
