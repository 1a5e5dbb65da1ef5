import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { canWrite, principalOf, type Principal } from '../../api-keys/principal';
import { enforceRateLimit } from '../../api-keys/rate-limit-middleware';
import { RateLimiter, type RateLimitBucket } from '../../api-keys/rate-limiter';
import type { ApiDeps } from '../../deps';
import { toHttpError } from '../v1/domain-errors';
import { compatAuthenticate } from './auth';
import { exportCdrs } from './cdr-export';
import { CompatError, compatErrorHandler } from './envelope';
import { manageExtension } from './extensions';
import { JOB_STATUS_PATH, jobStatus } from './job-status';
import { listGateways, provisionGateway } from './gateways';
import { LoginLockout } from './login-lockout';
import { multipartForm } from './multipart-form';
import { queryForm } from './query-form';
import { checkRegistration } from './registration';

type CompatHandler = (deps: ApiDeps, principal: Principal, req: Request, res: Response) => Promise<void>;

interface CompatRoute {
  path: string;
  /** ictVoIP's documented limits: 100/min standard, 10 for the CDR export, 50 for gateways. */
  bucket: RateLimitBucket;
  writes: boolean;
  /** 'allow': answered unlimited while the rate limiter (Redis) is unavailable (see enforceRateLimit). */
  whenLimiterBlind?: 'refuse' | 'allow';
  handler: CompatHandler;
}

/** ictVoIP's endpoints on the FusionPBX host (modules/fusionpbx/api_endpoints.rst, configuration.rst). */
export const COMPAT_ROUTES: readonly CompatRoute[] = [
  { path: '/app/registrations/check_registration.php', bucket: 'standard', writes: false, handler: checkRegistration },
  { path: '/app/gateways/provision.php', bucket: 'gateways', writes: true, handler: provisionGateway },
  { path: '/app/gateways/provision_list.php', bucket: 'gateways', writes: false, handler: listGateways },
  { path: '/app/extensions/manage.php', bucket: 'standard', writes: true, handler: manageExtension },
  { path: '/app/xml_cdr/export_cdr.php', bucket: 'cdrExport', writes: false, handler: exportCdrs },
  // The bridge's own: where a queued write's job_url points, read with the same credentials.
  { path: JOB_STATUS_PATH, bucket: 'standard', writes: false, whenLimiterBlind: 'allow', handler: jobStatus },
];

/**
 * The status page of ictVoIP's list, as PHP serves it (`index.php` and its directory, the Server Status
 * Address): answered by statusRouter; here only the credentials a script sends are checked, on each.
 * `/app/status` matches `/app/status/` too (non-strict routing): listed once, so a request is checked once.
 */
export const COMPAT_STATUS_PATHS = ['/app/status/index.php', '/app/status'];

const FORM_LIMIT_BYTES = 64 * 1024;
const FORM_FIELDS = 100;

/**
 * COMPAT_ICTVOIP=1: ictVoIP's form-POST endpoints as a thin layer over /v1's code (tenant lookup and
 * isolation, the write jobs and their tenant_writes audit rows, the live FreeSWITCH reads, the CDR
 * reader, the per-caller rate limiter), answering in ictVoIP's envelope. Off: the paths do not exist.
 */
export function compatRouter(deps: ApiDeps): Router {
  const router = Router();
  if (!deps.config.compatIctvoip) return router;
  const limiter = new RateLimiter(deps.redis, deps.config.redis.queuePrefix, deps.config.api.rateLimitWindowSeconds);
  const { maxFailures, lockoutSeconds } = deps.config.compatLogin;
  const lockout = new LoginLockout(deps.redis, deps.config.redis.queuePrefix, maxFailures, lockoutSeconds);
  // PHP reads both encodings into $_POST: so do we (curl -d and curl -F alike).
  const form = [express.urlencoded({ extended: false, limit: FORM_LIMIT_BYTES, parameterLimit: FORM_FIELDS }), multipartForm(FORM_LIMIT_BYTES, FORM_FIELDS)];
  const authenticate = compatAuthenticate(deps, lockout);
  for (const route of COMPAT_ROUTES) {
    const answer = async (req: Request, res: Response) => {
      const principal = principalOf(res);
      await enforceRateLimit(limiter, deps.config, principal, route.bucket, res, route.whenLimiterBlind);
      if (route.writes && !canWrite(principal)) throw new CompatError(403, 'FORBIDDEN', 'Access Denied: this API key is read-only');
      try {
        await route.handler(deps, principal, req, res);
      } catch (error) {
        throw toHttpError(error);
      }
    };
    router.post(route.path, ...form, authenticate, answer);
    // servers.rst tests the endpoints with `curl -u username:password <url>`: a GET (HEAD alike).
    router.get(route.path, queryForm(route.writes), authenticate, answer);
  }
  // A status request carrying credentials has them checked (wrong ones are refused as ictVoIP
  // would); the status itself is statusRouter's, open to whitelisted peers as before.
  const statusCredentials = (req: Request, res: Response, next: NextFunction) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.username === undefined && body.password === undefined && !req.get('authorization')) return next();
    return authenticate(req, res, next);
  };
  router.post(COMPAT_STATUS_PATHS, ...form, statusCredentials);
  router.get(COMPAT_STATUS_PATHS, queryForm(false), statusCredentials);
  router.use(COMPAT_ROUTES.map((route) => route.path).concat(COMPAT_STATUS_PATHS), compatErrorHandler(deps.logger));
  return router;
}
