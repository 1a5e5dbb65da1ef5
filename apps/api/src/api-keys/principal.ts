import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ApiKeyRecord, ApiKeysRepository } from '@ictvoip/store';
import type { Logger } from '@ictvoip/config';
import { HttpError } from '../errors';

/**
 * Who is calling: the operator's ADMIN_TOKEN, an API key (admin or one tenant), or (ictVoIP's
 * endpoints only, COMPAT_ICTVOIP=1) a FusionPBX superadmin, who sees the tenants of the FusionPBX
 * servers whose own v_users accepted the password, and no others.
 */
export type Principal =
  | { kind: 'admin-token' }
  | { kind: 'key'; key: ApiKeyRecord }
  /** `unanswered`: the servers (names, `default` included) whose database did not answer the password check. */
  | { kind: 'fusionpbx-superadmin'; username: string; servers: readonly (string | null)[]; unanswered?: readonly string[] };

export const isAdmin = (principal: Principal) => principal.kind === 'admin-token' || (principal.kind === 'key' && principal.key.scope === 'admin');
export const canWrite = (principal: Principal) => principal.kind !== 'key' || principal.key.access === 'read-write';
/** The only service a tenant key may see; null for admin principals. */
export const tenantOf = (principal: Principal): number | null => (principal.kind === 'key' && principal.key.scope === 'tenant' ? principal.key.serviceId : null);
/** The FusionPBX servers (stored names, null = default) a principal is limited to; null = every server. */
export const serversOf = (principal: Principal): readonly (string | null)[] | null => (principal.kind === 'fusionpbx-superadmin' ? principal.servers : null);
/** The servers a superadmin's password could not be checked on (their database did not answer). */
export const unansweredServersOf = (principal: Principal): readonly string[] => (principal.kind === 'fusionpbx-superadmin' ? (principal.unanswered ?? []) : []);
export function actorOf(principal: Principal): string {
  if (principal.kind === 'admin-token') return 'admin-token';
  if (principal.kind === 'key') return `api-key:${principal.key.id}`;
  return `fusionpbx-superadmin:${principal.username}`;
}

export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new HttpError(401, 'UNAUTHORIZED', 'authentication required');
  return principal;
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearer(req: Request): string | null {
  const header = req.get('authorization');
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/** The 401, with the challenge that says which scheme to answer it with (RFC 9110: on a 401 only). */
function unauthorized(res: Response): HttpError {
  res.setHeader('WWW-Authenticate', 'Bearer realm="ictvoip"');
  return new HttpError(401, 'UNAUTHORIZED', 'a valid API key is required (Authorization: Bearer ivk_…)');
}

/** Resolves the bearer token to a principal; revoked, unknown or malformed keys are 401 alike. */
export function authenticate(apiKeys: ApiKeysRepository, adminToken: string, logger: Logger): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const token = bearer(req);
    if (!token) return next(unauthorized(res));
    if (!token.startsWith('ivk_')) {
      if (!sameSecret(token, adminToken)) return next(unauthorized(res));
      res.locals.principal = { kind: 'admin-token' } satisfies Principal;
      return next();
    }
    const key = await apiKeys.verify(token);
    if (!key) return next(unauthorized(res));
    res.locals.principal = { kind: 'key', key } satisfies Principal;
    // Bookkeeping only: a failed last-use write must not fail the request.
    apiKeys.recordUse(key.id, req.socket.remoteAddress ?? null).catch((error: Error) => logger.warn({ err: error.message, keyId: key.id }, 'api key last-use update failed'));
    next();
  };
}

export function requireAdmin(): RequestHandler {
  return (_req, res, next) => next(isAdmin(principalOf(res)) ? undefined : new HttpError(403, 'FORBIDDEN', 'this route needs an admin key'));
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A read-only key may call every GET route it can see; writes are 403. */
export function requireWriteAccessForWrites(): RequestHandler {
  return (req, res, next) => {
    if (!WRITE_METHODS.has(req.method) || canWrite(principalOf(res))) return next();
    next(new HttpError(403, 'FORBIDDEN', 'this API key is read-only'));
  };
}
