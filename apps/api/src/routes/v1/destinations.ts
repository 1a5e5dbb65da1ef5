import Joi from 'joi';
import {
  ACTION_TYPES,
  createTenantDestination,
  deleteTenantDestination,
  destinationWriteOptions,
  getTenantDestination,
  listTenantDestinations,
  updateTenantDestination,
  type DestinationFields,
  type DestinationWriteOptions,
  type TransactionMode,
} from '@ictvoip/fusionpbx';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { safeText, tenantParam } from './common-schemas';
import { previewWrite } from './dry-run';
import { PENDING_RESPONSE as PENDING, submitWrite } from './tenant-write';
import { resolveTenant, type TenantContext, requireDomainScope } from './tenant-context';

/**
 * `/v1/tenants/{tenant}/destinations`: the tenant's inbound numbers (DIDs), each a v_destinations
 * row with its public-context dialplan. `{number}` is the number in any form the plan's numbering
 * reads (`+15551234567`, `15551234567`, `5551234567` for a plan with country code 1); a number of
 * another tenant is 404 like a number nobody has.
 */

const phoneNumber = Joi.string()
  .trim()
  .max(40)
  .pattern(/^\+?[0-9 ().-]{3,40}$/, 'phone number');

const action = Joi.object({
  type: Joi.string()
    .valid(...ACTION_TYPES)
    .required(),
  target: Joi.string()
    .max(64)
    .pattern(/^[A-Za-z0-9_+*#.-]+$/, 'extension, mailbox, ring group or dialplan number')
    .allow(null)
    .description('extension: default the tenant’s first extension; required for the others'),
});

const fields = {
  action,
  callerIdNamePrefix: Joi.string()
    .max(32)
    .pattern(/^[A-Za-z0-9 _.:+#-]+$/, 'letters, digits, space _ . : + # -')
    .allow(null),
  description: safeText(255).allow(null),
  enabled: Joi.boolean(),
};

const tenantOnly = Joi.object({ tenant: tenantParam });
const tenantAndNumber = Joi.object({ tenant: tenantParam, number: phoneNumber.required() });

function planOf(context: TenantContext): Record<string, unknown> {
  return context.service.plan as Record<string, unknown>;
}

function writeOptions(context: TenantContext, transaction: TransactionMode): DestinationWriteOptions {
  return { ...destinationWriteOptions(context.service.serviceId, planOf(context), context.deps.config.api.defaultMaxDestinations), transaction };
}

export const listDestinationsRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/destinations',
    needsDomain: true,
    summary: 'Inbound numbers (DIDs) of the tenant',
    params: tenantOnly,
    responses: { '200': '{data:[destination]}', '404': 'unknown tenant' },
  },
  async handler({ deps: base, res, principal, input }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { deps, domain } = requireDomainScope(context);
    const { numberPlan } = destinationWriteOptions(context.service.serviceId, planOf(context));
    res.json({ data: await listTenantDestinations(deps.fusion.pool, domain.domainUuid, numberPlan) });
  },
};

export const getDestinationRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/destinations/{number}',
    needsDomain: true,
    summary: 'One inbound number',
    params: tenantAndNumber,
    responses: { '200': 'destination', '400': 'not a phone number', '404': 'unknown tenant, or a number the tenant does not have' },
  },
  async handler({ deps: base, res, principal, input }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { deps, domain } = requireDomainScope(context);
    const { numberPlan } = destinationWriteOptions(context.service.serviceId, planOf(context));
    const destination = await getTenantDestination(deps.fusion.pool, domain.domainUuid, input.params.number as string, numberPlan);
    if (!destination) throw new HttpError(404, 'NOT_FOUND', `number ${String(input.params.number)} not found`);
    res.json(destination);
  },
};

export const createDestinationRoute: RouteDefinition = {
  spec: {
    method: 'post',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/destinations',
    needsDomain: true,
    summary: 'Add an inbound number (v_destinations + public dialplan, dialplan cache delete)',
    params: tenantOnly,
    body: Joi.object({ number: phoneNumber.required(), ...fields }),
    responses: {
      '201': 'created and applied',
      '202': PENDING,
      '400': 'not a phone number, or an action target the tenant does not have',
      '409': 'number in use (this tenant or another on the server), quota exceeded, or tenant not active',
    },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const { number, ...body } = input.body as unknown as DestinationFields & { number: string };
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => createTenantDestination(context.deps.fusion.pool, number, body, writeOptions(context, transaction)),
        (result) => ({ destination: result.destination }),
      );
    await submitWrite(context, res, { resource: 'destination', operation: 'create', target: number, input: { fields: body } });
  },
};

export const updateDestinationRoute: RouteDefinition = {
  spec: {
    method: 'put',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/destinations/{number}',
    needsDomain: true,
    summary: 'Change an inbound number: action, caller ID name prefix, description, enabled (omitted fields keep their value)',
    params: tenantAndNumber,
    body: Joi.object(fields),
    responses: {
      '200': 'updated or unchanged',
      '202': PENDING,
      '400': 'validation failed',
      '404': 'a number the tenant does not have',
      '409':
        'tenant not active; CUSTOMISED_IN_FUSIONPBX: an action or caller ID prefix change of a number whose dialplan was customised in FusionPBX (recording, fax detection, several actions, …)',
    },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const number = input.params.number as string;
    const body = input.body as DestinationFields;
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => updateTenantDestination(context.deps.fusion.pool, number, body, writeOptions(context, transaction)),
        (result) => ({ destination: result.destination }),
      );
    await submitWrite(context, res, { resource: 'destination', operation: 'update', target: number, input: { fields: body } });
  },
};

export const deleteDestinationRoute: RouteDefinition = {
  spec: {
    method: 'delete',
    keyedByRequestId: true,
    path: '/v1/tenants/{tenant}/destinations/{number}',
    needsDomain: true,
    summary: 'Remove an inbound number the tenant added (destination, its dialplan and details; dialplan cache delete)',
    params: tenantAndNumber,
    responses: {
      '204': 'deleted and applied',
      '202': PENDING,
      '404': 'a number the tenant does not have',
      '409': 'a number of the plan (change it in WHMCS), or tenant not active',
    },
  },
  async handler({ deps: base, res, principal, input, dryRun }) {
    const context = await resolveTenant(base, principal, input.params.tenant as string);
    const number = input.params.number as string;
    if (dryRun)
      return previewWrite(
        context,
        res,
        (transaction) => deleteTenantDestination(context.deps.fusion.pool, number, writeOptions(context, transaction)),
        (result) => ({ destination: result.destination }),
      );
    await submitWrite(context, res, { resource: 'destination', operation: 'delete', target: number, input: {} });
  },
};
