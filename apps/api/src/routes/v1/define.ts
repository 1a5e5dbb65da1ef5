import type { Request, Response, Router } from 'express';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';
import { enforceRateLimit } from '../../api-keys/rate-limit-middleware';
import type { RateLimitBucket, RateLimiter } from '../../api-keys/rate-limiter';
import { canWrite, isAdmin, type Principal, principalOf } from '../../api-keys/principal';
import { namedWhereSent, toHttpError } from './domain-errors';
import { expressPath, pathParams, type RouteSpec } from './route-spec';
import { type ValidatedRequest, validateRequest } from './validation';

export interface HandlerContext {
  deps: ApiDeps;
  req: Request;
  res: Response;
  principal: Principal;
  input: ValidatedRequest;
  /** `?dryRun=1` on a write route: validate, check and roll back; write nothing, send nothing. */
  dryRun: boolean;
}

export type Handler = (context: HandlerContext) => Promise<void>;

export interface RouteDefinition {
  spec: RouteSpec;
  /** Which rate-limit bucket a request counts in (default: spec.bucket or standard). */
  bucketOf?: (req: Request) => RateLimitBucket;
  /** 'allow': answered unlimited while the rate limiter (Redis) is unavailable (see enforceRateLimit). */
  whenLimiterBlind?: 'refuse' | 'allow';
  handler: Handler;
}

/** Wires one route: rate limit, admin check, validation of every part, typed-error mapping. */
export function mount(router: Router, deps: ApiDeps, limiter: RateLimiter, definition: RouteDefinition): void {
  const { spec, handler } = definition;
  const urlParams = pathParams(spec.path);
  const bodyKeys = Object.keys((spec.body?.describe() as { keys?: Record<string, unknown> } | undefined)?.keys ?? {});
  router[spec.method](expressPath(spec.path), async (req: Request, res: Response) => {
    const principal = principalOf(res);
    const bucket = definition.bucketOf?.(req) ?? spec.bucket ?? 'standard';
    await enforceRateLimit(limiter, deps.config, principal, bucket, res, definition.whenLimiterBlind);
    if (spec.adminOnly && !isAdmin(principal)) throw new HttpError(403, 'FORBIDDEN', 'this route needs an admin key');
    if (spec.method !== 'get' && !canWrite(principal)) throw new HttpError(403, 'FORBIDDEN', 'this API key is read-only');
    const input = validateRequest(spec, req);
    try {
      await handler({ deps, req, res, principal, input, dryRun: spec.method !== 'get' && input.query.dryRun === true });
    } catch (error) {
      throw namedWhereSent(toHttpError(error), urlParams, bodyKeys);
    }
  });
}
