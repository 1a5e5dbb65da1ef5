import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { verifySuperadmin } from '@ictvoip/fusionpbx';
import { canonicalPeer, peerAddress } from '@ictvoip/whitelist';
import { authenticate, type Principal } from '../../api-keys/principal';
import { redisDeadline } from '../../api-keys/rate-limit-middleware';
import type { ApiDeps } from '../../deps';
import { CompatError, missingParameter } from './envelope';
import type { LoginLockout } from './login-lockout';

/** chkcon's own refusal text: ictVoIP answers every endpoint's unlisted peer with it. */
export const NOT_WHITELISTED = 'API Access Denied: Only whitelisted IPs may access this endpoint.';

/** A form field as text; arrays (`a=1&a=2`) and objects are refused, not guessed at. */
export function formField(req: Request, name: string): string | undefined {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const value = body[name];
  const notText = () => new CompatError(400, 'INVALID_REQUEST', `Invalid Request: ${name} must be given once, as text`);
  // PHP's array form (`name[]=…`, `name[0]=…`, what http_build_query makes of an array) is PHP's $_POST[name] too.
  if (value === undefined) {
    if (Object.keys(body).some((key) => key.startsWith(`${name}[`))) throw notText();
    return undefined;
  }
  if (typeof value !== 'string') throw notText();
  return value;
}

/** `Authorization: Basic` (servers.rst tests the endpoints with `curl -u username:password`). */
function basicCredentials(req: Request): { username: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.get('authorization') ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The FusionPBX servers (stored names) whose database knows this superadmin with this password, all
 * asked at once; `unanswered` names those whose database did not answer (logged). One server down
 * never refuses a superadmin another server knows.
 */
async function superadminServers(deps: ApiDeps, username: string, password: string): Promise<{ name: string; servers: (string | null)[]; unanswered: string[] }> {
  const { targets, unusable } = await deps.targets.scan();
  const outcomes = await Promise.allSettled(targets.map((target) => verifySuperadmin(target.pool, username, password)));
  const servers: (string | null)[] = [];
  // A server that cannot be used (its secrets unreadable) could not check the password either.
  const unanswered: string[] = unusable.map((server) => server.name);
  for (const server of unusable) deps.logger.warn({ server: server.name, err: server.reason }, 'ictVoIP login: FusionPBX server cannot be used');
  let name = username;
  outcomes.forEach((outcome, index) => {
    const target = targets[index]!;
    if (outcome.status === 'rejected') {
      unanswered.push(target.name);
      deps.logger.warn({ server: target.name, err: (outcome.reason as Error)?.message ?? String(outcome.reason) }, 'ictVoIP login: FusionPBX database did not answer');
      return;
    }
    if (outcome.value === null) return;
    name = outcome.value;
    servers.push(target.storedName);
  });
  return { name, servers, unanswered };
}

/**
 * ictVoIP's authentication: the peer inside chkcon_whitelist.conf AND the `username` / `password`
 * (form fields, or `Authorization: Basic`) of a FusionPBX superadmin, checked against that server's
 * own v_users; or, instead, one of the bridge's API keys (or the ADMIN_TOKEN) as `Authorization: Bearer`, exactly as on /v1.
 */
export function compatAuthenticate(deps: ApiDeps, lockout: LoginLockout): RequestHandler {
  const bearer = authenticate(deps.apiKeys, deps.config.adminToken, deps.logger);
  const checkPassword = superadminCheck(deps, lockout);
  return async (req: Request, res: Response, next: NextFunction) => {
    const basic = basicCredentials(req);
    if (req.get('authorization') && !basic) return bearer(req, res, next);
    const peer = peerAddress(req, deps.trustProxy);
    const ip = canonicalPeer(peer) ?? peer ?? '';
    if (!deps.whitelist.isAllowed(peer)) {
      deps.logger.warn({ ip, path: req.path }, 'ictVoIP endpoint denied: peer not whitelisted');
      return next(new CompatError(403, 'NOT_WHITELISTED', NOT_WHITELISTED));
    }
    try {
      const username = basic?.username ?? formField(req, 'username');
      const password = basic?.password ?? formField(req, 'password');
      if (!username) throw missingParameter('username');
      if (!password) throw missingParameter('password');
      const found = await checkPassword(ip, req.path, username, password);
      res.locals.principal = { kind: 'fusionpbx-superadmin', username: found.name, servers: found.servers, unanswered: found.unanswered } satisfies Principal;
      next();
    } catch (error) {
      next(error);
    }
  };
}

/**
 * The password check behind a per-address lockout: a locked-out address is refused before any hash
 * is computed; each check is counted before it runs (so concurrent guesses cannot all slip in under
 * the limit), a good password clears the count. Logs name the address and the username, never the password.
 */
function superadminCheck(deps: ApiDeps, lockout: LoginLockout) {
  const { maxFailures, lockoutSeconds } = deps.config.compatLogin;
  const lockedOut = (retryAfterSeconds: number) =>
    new CompatError(429, 'LOGIN_LOCKED_OUT', `Rate Limited: too many failed logins from this address; retry in ${retryAfterSeconds} s`, retryAfterSeconds);
  return async (ip: string, path: string, username: string, password: string): Promise<{ name: string; servers: (string | null)[]; unanswered: string[] }> => {
    const before = await redisDeadline(lockout.check(ip), 'the login lockout (Redis)');
    if (before.locked) {
      deps.logger.warn({ ip, username, path, retryAfterSeconds: before.retryAfterSeconds }, 'ictVoIP endpoint denied: address locked out after failed logins');
      throw lockedOut(before.retryAfterSeconds);
    }
    const attempt = await redisDeadline(lockout.attempt(ip), 'the login lockout (Redis)');
    if (attempt.locked) {
      deps.logger.warn({ ip, username, path, retryAfterSeconds: attempt.retryAfterSeconds }, 'ictVoIP endpoint denied: address at its failed-login limit (checks in flight)');
      throw lockedOut(attempt.retryAfterSeconds);
    }
    const found = await superadminServers(deps, username, password);
    if (found.servers.length > 0) {
      await redisDeadline(lockout.clear(ip), 'the login lockout (Redis)');
      return found;
    }
    // Not known to the servers that answered, perhaps to one that did not: not a wrong password (still counted, as every check is).
    if (found.unanswered.length > 0) {
      deps.logger.warn({ ip, username, path, unanswered: found.unanswered }, 'ictVoIP endpoint: credentials not checked on every FusionPBX server (one did not answer)');
      throw new CompatError(
        503,
        'DEPENDENCY_UNAVAILABLE',
        `Server Error: FusionPBX server ${found.unanswered.join(', ')} did not answer, so the credentials could not be checked there; retry later`,
        5,
      );
    }
    deps.logger.warn({ ip, username, path, failures: attempt.failures }, 'ictVoIP endpoint denied: invalid FusionPBX credentials');
    if (attempt.failures >= maxFailures) {
      deps.logger.warn({ ip, failures: attempt.failures, lockoutSeconds }, `ictVoIP endpoints: address locked out after ${maxFailures} failed logins`);
      const after = await redisDeadline(lockout.check(ip), 'the login lockout (Redis)');
      throw lockedOut(Math.max(after.retryAfterSeconds, 1));
    }
    throw new CompatError(401, 'AUTHENTICATION_FAILED', 'Authentication Failed: Invalid credentials');
  };
}
