import type { Request } from 'express';
import { DEFAULT_FUSION_SERVER } from '@ictvoip/store';
import { type Principal, isAdmin, serversOf } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import { formField } from './auth';
import { CompatError, invalidParameter } from './envelope';

/** The form field naming the FusionPBX server of a global write, when the bridge has several. */
export const SERVER_FIELD = 'server';

/** Who may touch a server's global gateways: the operator (admin token or admin key) or a FusionPBX superadmin. */
export const mayUseGlobal = (principal: Principal) => isAdmin(principal) || principal.kind === 'fusionpbx-superadmin';

const nameOf = (server: string | null) => server ?? DEFAULT_FUSION_SERVER;

/** The servers (stored names, null = default) the caller's global gateways live on: a superadmin's own, else every enabled one. */
export async function globalServersInScope(deps: ApiDeps, principal: Principal): Promise<(string | null)[]> {
  const own = serversOf(principal);
  if (own !== null) return [...own];
  const registered = (await deps.fusionServers.list()).filter((server) => server.enabled).map((server) => server.name);
  return [null, ...registered];
}

/**
 * The server a global write goes to: the one `server` names (within the caller's), else the only
 * server the caller has; with several and none named, a 400 naming the field and the choices.
 */
export async function globalServer(deps: ApiDeps, principal: Principal, req: Request): Promise<string | null> {
  if (!mayUseGlobal(principal)) throw new CompatError(403, 'FORBIDDEN', 'Access Denied: a tenant API key cannot write global gateways');
  const servers = await globalServersInScope(deps, principal);
  const named = formField(req, SERVER_FIELD);
  if (named !== undefined && named !== '') {
    const server = servers.find((candidate) => nameOf(candidate) === named);
    if (server === undefined) throw invalidParameter(SERVER_FIELD, `is not a FusionPBX server you may write (one of: ${servers.map(nameOf).join(', ')})`);
    return server;
  }
  if (servers.length === 1) return servers[0]!;
  throw new CompatError(
    400,
    'MISSING_PARAMETERS',
    `Missing Parameters: ${SERVER_FIELD} is required (the bridge has ${servers.length} FusionPBX servers: ${servers.map(nameOf).join(', ')})`,
  );
}
