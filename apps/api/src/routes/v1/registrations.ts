import Joi from 'joi';
import { enabledSipProfiles, validateProfile } from '@ictvoip/fusionpbx';
import { parseRegistrationsForDomain, RegistrationStatusError, type Registration } from '@ictvoip/freeswitch';
import type { ScopedApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import type { RouteDefinition } from './define';
import { extensionNumber, tenantParam } from './common-schemas';
import { withEslDeadline } from './freeswitch';
import { resolveTenant, requireDomainScope } from './tenant-context';

interface ProfileRegistrations {
  /** The enabled SIP profiles asked. */
  profiles: string[];
  registrations: Registration[];
  /** Enabled in FusionPBX but not answering (`Invalid Profile!`: not running on this switch). */
  unavailableProfiles: string[];
}

/** `sofia xmlstatus profile '<p>' reg` for every enabled profile, all within one deadline. */
export async function liveRegistrations(deps: ScopedApiDeps, domainName: string): Promise<ProfileRegistrations> {
  const profiles = (await enabledSipProfiles(deps.fusion.pool)).filter((name) => {
    try {
      validateProfile(name);
      return true;
    } catch {
      return false;
    }
  });
  return withEslDeadline(deps, async () => {
    const registrations: Registration[] = [];
    const unavailableProfiles: string[] = [];
    for (const profile of profiles) {
      const body = await deps.fusion.esl.api(`sofia xmlstatus profile '${profile}' reg`, { allowErr: true });
      try {
        registrations.push(...parseRegistrationsForDomain(body, profile, domainName));
      } catch (error) {
        if (!(error instanceof RegistrationStatusError)) throw error;
        unavailableProfiles.push(profile);
      }
    }
    return { profiles, registrations, unavailableProfiles };
  });
}

function view(entry: Registration) {
  return {
    extension: entry.extension,
    user: entry.user,
    profile: entry.profile,
    contact: entry.contact,
    networkIp: entry.networkIp,
    networkPort: entry.networkPort,
    userAgent: entry.userAgent,
    status: entry.status,
    transport: entry.transport,
    expires: entry.expires,
    expiresInSeconds: entry.expiresInSeconds,
    pingStatus: entry.pingStatus,
    pingTimeMs: entry.pingTimeMs,
    callId: entry.callId,
    sipAuthUser: entry.sipAuthUser,
    sipAuthRealm: entry.sipAuthRealm,
    host: entry.host,
  };
}

export const listRegistrationsRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/registrations',
    needsDomain: true,
    summary: 'Live SIP registrations of the tenant (every enabled SIP profile, filtered to the tenant realm)',
    params: Joi.object({ tenant: tenantParam }),
    responses: { '200': '{data:[registration], unavailableProfiles}', '404': 'unknown tenant', '503': 'event socket down or slow; Retry-After' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    const live = await liveRegistrations(deps, domain.domainName);
    res.json({ data: live.registrations.map(view), unavailableProfiles: live.unavailableProfiles });
  },
};

export const extensionRegistrationRoute: RouteDefinition = {
  spec: {
    method: 'get',
    path: '/v1/tenants/{tenant}/extensions/{extension}/registration',
    needsDomain: true,
    summary: 'Registrations of one extension (by number or alias); registered=false when none',
    params: Joi.object({ tenant: tenantParam, extension: extensionNumber.required() }),
    responses: { '200': '{extension, registered, registrations}', '404': 'unknown tenant or extension', '503': 'event socket down or slow; Retry-After' },
  },
  async handler({ deps: base, res, principal, input }) {
    const { deps, domain } = requireDomainScope(await resolveTenant(base, principal, input.params.tenant as string));
    const extension = input.params.extension as string;
    const { rows } = await deps.fusion.pool.query<{ extension: string; number_alias: string | null }>(
      'select extension, number_alias from v_extensions where domain_uuid = $1 and extension = $2 limit 1',
      [domain.domainUuid, extension],
    );
    if (!rows[0]) throw new HttpError(404, 'NOT_FOUND', `extension ${extension} not found`);
    const names = new Set([rows[0].extension, rows[0].number_alias].filter((name): name is string => !!name));
    const live = await liveRegistrations(deps, domain.domainName);
    const mine = live.registrations.filter((entry) => names.has(entry.extension));
    res.json({ extension, registered: mine.length > 0, registrations: mine.map(view), unavailableProfiles: live.unavailableProfiles });
  },
};
