import Joi from 'joi';
import { tenantCounts } from '@ictvoip/fusionpbx';
import { ServicesRepository, TenantWritesRepository, type ServiceRecord } from '@ictvoip/store';
import { tenantOf } from '../../api-keys/principal';
import type { RouteDefinition } from './define';
import { tenantParam } from './common-schemas';
import { planLimits, resolveTenant } from './tenant-context';

function summary(service: ServiceRecord) {
  return {
    serviceId: service.serviceId,
    clientId: service.clientId,
    domain: service.tenantDomain,
    desiredState: service.desiredState,
    observedState: service.observedState,
    /** The FusionPBX server the tenant lives on ('default' = FUSIONPBX_DATABASE_URL / ESL_*). */
    fusionpbxServer: service.fusionpbxServer ?? 'default',
    updatedAt: service.updatedAt.toISOString(),
  };
}

export const listTenants: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants',
    summary: 'Tenants (WHMCS services) known to the bridge; a tenant key sees only its own',
    query: Joi.object({
      limit: Joi.number().integer().min(1).max(1000).default(100),
      after: Joi.number().integer().min(0).default(0).description('service id to continue after'),
    }),
    responses: { '200': '{data:[tenant], nextAfter}' },
  },
  async handler({ deps, res, principal, input }) {
    const services = new ServicesRepository(deps.pool);
    const own = tenantOf(principal);
    if (own !== null) {
      const service = await services.get(own);
      res.json({ data: service ? [summary(service)] : [], nextAfter: null });
      return;
    }
    const limit = input.query.limit as number;
    const rows = await services.list(limit + 1, input.query.after as number);
    const page = rows.slice(0, limit);
    res.json({ data: page.map(summary), nextAfter: rows.length > limit ? page[page.length - 1].serviceId : null });
  },
};

export const getTenant: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}',
    summary: 'One tenant: desired state (WHMCS) vs observed state (FusionPBX), plan, counts',
    params: Joi.object({ tenant: tenantParam }),
    responses: { '200': 'tenant', '404': 'unknown tenant, or another tenant than the key’s' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { service, domain, deps } = await resolveTenant(base, principal, input.params.tenant as string);
    // Global gateway writes whose FreeSWITCH apply the tenant's server still owes: its own backlog can be empty and its calls still wait on them.
    const globalApplies = (await new TenantWritesRepository(base.pool).globalAppliesOwedOn(service.fusionpbxServer)).count;
    res.json({
      ...summary(service),
      desired: { state: service.desiredState, generation: service.generation, plan: service.plan },
      observed: {
        state: service.observedState,
        pendingFreeswitchApply: service.pendingApply !== null,
        freeswitch: service.pendingApply
          ? {
              inStep: false,
              since: service.pendingApply.since,
              steps: service.pendingApply.steps.length,
              events: service.pendingApply.events.map((event) => event.eventId),
              lastError: service.pendingApply.lastError,
              attempts: service.pendingApply.attempts,
              globalApplies,
            }
          : { inStep: true, globalApplies },
        fusionpbx: domain
          ? { domainUuid: domain.domainUuid, domainName: domain.domainName, domainEnabled: domain.domainEnabled, status: domain.status, generation: domain.generation }
          : null,
      },
      limits: planLimits(service),
      counts: domain ? await tenantCounts(deps.fusion.pool, domain.domainUuid) : null,
      properties: service.properties,
    });
  },
};
