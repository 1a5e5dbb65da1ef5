import Joi from 'joi';
import { effectiveWatchScope, MonitoringWatchRepository, RegistrationsRepository, type ServiceRecord, type TenantWatch } from '@ictvoip/store';
import { HttpError } from '../../errors';
import { isAdmin } from '../../api-keys/principal';
import type { RouteDefinition } from './define';
import { extensionNumber, tenantParam } from './common-schemas';
import { resolveService } from './tenant-context';
import { scopeForServer } from '../../fusion-scope';
import type { ApiDeps } from '../../deps';
import { watchMarkRefusal } from '@ictvoip/fusionpbx';

const MAX_RECIPIENTS = 10;

function view(service: ServiceRecord, watch: TenantWatch) {
  const planScope = typeof service.plan.registrationWatch === 'string' ? service.plan.registrationWatch : null;
  return {
    serviceId: service.serviceId,
    scope: effectiveWatchScope(watch.scopeOverride, service.plan),
    scopeOverride: watch.scopeOverride,
    planScope,
    marked: watch.marked,
    recipients: watch.recipients,
    watched: service.desiredState === 'active',
  };
}

/** The shared check (watchMarkRefusal) as this route answers it: 409 no domain yet, 400 naming body.mark.N or body.mark. */
async function checkMarks(deps: ApiDeps, service: ServiceRecord, mark: string[], unmark: string[], repository: MonitoringWatchRepository): Promise<void> {
  // No domain, no server to read: refused here (watchMarkRefusal's words), not answered from the default server's database.
  if (!service.tenantDomain) throw new HttpError(409, 'TENANT_NOT_PROVISIONED', `tenant ${service.serviceId} has no FusionPBX domain (not created yet, or purged)`);
  const scoped = await scopeForServer(deps, service.fusionpbxServer);
  const marked = (await repository.get(service.serviceId)).marked;
  const refusal = await watchMarkRefusal(scoped.fusion.pool, { serviceId: service.serviceId, tenantDomain: service.tenantDomain, marked }, mark, unmark);
  if (!refusal) return;
  if (refusal.code === 'TENANT_NOT_PROVISIONED') throw new HttpError(409, refusal.code, refusal.message);
  if (refusal.code === 'UNKNOWN_EXTENSION') {
    throw new HttpError(
      400,
      'VALIDATION_FAILED',
      refusal.message,
      refusal.missing.map(({ extension, index }) => ({ path: `body.mark.${index}`, message: `the tenant has no extension ${extension}` })),
    );
  }
  throw new HttpError(400, 'VALIDATION_FAILED', 'too many marked extensions', [{ path: 'body.mark', message: refusal.message }]);
}

export const getRegistrationWatchRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/registrations/watch',
    summary:
      'What registration monitoring watches for the tenant: the scope in force (all, marked, off: the override, else the plan module setting, else all), the marked extensions, the extra alert recipients',
    params: Joi.object({ tenant: tenantParam }),
    responses: { '200': '{scope, scopeOverride, planScope, marked, recipients, watched}', '404': 'unknown tenant' },
  },
  async handler({ deps, res, principal, input }) {
    const service = await resolveService(deps, principal, input.params.tenant as string);
    res.json(view(service, await new MonitoringWatchRepository(deps.pool).get(service.serviceId)));
  },
};

export const putRegistrationWatchRoute: RouteDefinition = {
  spec: {
    method: 'put',
    path: '/v1/tenants/{tenant}/registrations/watch',
    summary:
      'Sets the watch scope (null: back to the plan), marks / unmarks extensions for the marked scope, replaces the extra alert webhook recipients (admin only). Idempotent; takes effect at the next poll',
    params: Joi.object({ tenant: tenantParam }),
    body: Joi.object({
      scope: Joi.string().valid('all', 'marked', 'off').allow(null),
      mark: Joi.array().items(extensionNumber).max(10000).unique(),
      unmark: Joi.array().items(extensionNumber).max(10000).unique(),
      recipients: Joi.array()
        .items(
          Joi.string()
            .uri({ scheme: ['http', 'https'] })
            .max(2000),
        )
        .max(MAX_RECIPIENTS)
        .unique()
        .description('extra signed alert webhooks of this tenant (admin only: the worker POSTs to them)'),
    })
      .or('scope', 'mark', 'unmark', 'recipients')
      .required(),
    responses: {
      '200': 'the watch settings after the change',
      '400': 'validation failed (an extension to mark the tenant does not have is named)',
      '403': 'recipients need an admin key',
      '404': 'unknown tenant',
      '409': 'extensions to mark, and the tenant has no FusionPBX domain yet',
    },
  },
  async handler({ deps, res, principal, input, dryRun }) {
    const service = await resolveService(deps, principal, input.params.tenant as string);
    const body = input.body as { scope?: 'all' | 'marked' | 'off' | null; mark?: string[]; unmark?: string[]; recipients?: string[] };
    // The worker POSTs alerts to these URLs from inside the network: only an operator may name them.
    if (body.recipients && !isAdmin(principal)) throw new HttpError(403, 'FORBIDDEN', 'recipients: only an admin key may set alert recipients');
    const repository = new MonitoringWatchRepository(deps.pool);
    // Everything is checked before anything is written: a refused request changes nothing.
    if (body.mark?.length) await checkMarks(deps, service, body.mark, body.unmark ?? [], repository);
    if (dryRun) {
      res.json({ dryRun: true, ...view(service, await repository.get(service.serviceId)) });
      return;
    }
    if (body.scope !== undefined || body.recipients) await repository.set(service.serviceId, { scope: body.scope, recipients: body.recipients });
    if (body.mark?.length) await repository.mark(service.serviceId, body.mark, true);
    if (body.unmark?.length) await repository.mark(service.serviceId, body.unmark, false);
    res.json(view(service, await repository.get(service.serviceId)));
  },
};

export const lostRegistrationsRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/registrations/lost',
    summary: 'Extensions of the tenant currently lost (missing past REGISTRATION_LOST_AFTER_SECONDS), longest lost first, with their last figures',
    params: Joi.object({ tenant: tenantParam }),
    responses: { '200': '{data:[{extension, domain, missingSince, lastSeen, contactIp, userAgent}]}', '404': 'unknown tenant' },
  },
  async handler({ deps, res, principal, input }) {
    const service = await resolveService(deps, principal, input.params.tenant as string);
    const lost = await new RegistrationsRepository(deps.pool).lost(service.serviceId);
    res.json({
      data: lost.map((state) => ({
        extension: state.extension,
        domain: state.domain,
        missingSince: state.missingSince?.toISOString() ?? null,
        lastSeen: state.lastSeen?.toISOString() ?? null,
        contactIp: state.contactIp,
        lanIp: state.lanIp,
        userAgent: state.userAgent,
      })),
    });
  },
};
