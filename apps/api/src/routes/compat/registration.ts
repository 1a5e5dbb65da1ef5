import type { Request, Response } from 'express';
import { HttpError } from '../../errors';
import type { Principal } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import { liveRegistrations } from '../v1/registrations';
import { requireDomainScope } from '../v1/tenant-context';
import { formField } from './auth';
import { CompatError, invalidParameter, missingParameter, sendSuccess } from './envelope';
import { namedTenant } from './tenants';

const EXTENSION = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * `/app/registrations/check_registration.php` (`extension`, `tenant_domain`): `registered` "yes" /
 * "no" and the first registration's `register_ip`, `register_port`, `register_useragent` (strings,
 * "" when not registered), from the same live `sofia xmlstatus` read as /v1.
 */
export async function checkRegistration(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const extension = formField(req, 'extension');
  if (!extension) throw missingParameter('extension');
  if (!EXTENSION.test(extension)) throw invalidParameter('extension', 'must be an extension number');
  const scope = requireDomainScope(await namedTenant(deps, principal, req, ['tenant_domain', 'domain']));
  const { rows } = await scope.deps.fusion.pool.query<{ extension: string; number_alias: string | null }>(
    'select extension, number_alias from v_extensions where domain_uuid = $1 and extension = $2 limit 1',
    [scope.domain.domainUuid, extension],
  );
  if (!rows[0]) throw new HttpError(404, 'NOT_FOUND', `extension ${extension} not found in ${scope.domain.domainName}`);
  const names = new Set([rows[0].extension, rows[0].number_alias].filter((name): name is string => !!name));
  const live = await liveRegistrations(scope.deps, scope.domain.domainName);
  const mine = live.registrations.find((entry) => names.has(entry.extension));
  // No profile listed its registrations: unknown, not "no" (registration monitoring leaves such phones unobserved, not lost).
  if (!mine && live.profiles.length > 0 && live.unavailableProfiles.length === live.profiles.length) {
    throw new CompatError(
      503,
      'REGISTRATIONS_UNKNOWN',
      `Server Error: no SIP profile listed its registrations (${live.unavailableProfiles.join(', ')}); whether ${extension} is registered is unknown`,
      5,
    );
  }
  sendSuccess(res, 'Extension status retrieved', {
    registered: mine ? 'yes' : 'no',
    register_ip: mine?.networkIp ?? '',
    register_port: mine?.networkPort !== undefined && mine?.networkPort !== null ? String(mine.networkPort) : '',
    register_useragent: mine?.userAgent ?? '',
  });
}
