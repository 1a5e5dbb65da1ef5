import type { Response } from 'express';
import type { BridgeConfig } from '@ictvoip/config';
import { DependencyUnavailableError, HttpError } from '../errors';
import type { Principal } from './principal';
import type { RateLimitBucket, RateLimiter } from './rate-limiter';

const REDIS_DEADLINE_MS = 1000;

/** A Redis call that has not answered within `ms` is an unavailable dependency (503), not a hung request. */
export function redisDeadline<T>(work: Promise<T>, what: string, ms = REDIS_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DependencyUnavailableError(what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Whose budget a request spends: an API key's, or a FusionPBX user's (by lower-cased username). */
function rateSubject(principal: Exclude<Principal, { kind: 'admin-token' }>): string {
  return principal.kind === 'key' ? `key-${principal.key.id}` : `fusionpbx-${principal.username.toLowerCase()}`;
}

/**
 * Counts the request against the key's bucket and sets X-RateLimit-Limit / -Remaining / -Reset
 * (unix seconds); over the limit → 429 + Retry-After. The ADMIN_TOKEN (operator) is not limited.
 * Redis down → 503: failing open would let one key hammer FusionPBX while the limiter is blind. Only
 * a route that reads the bridge's own database and nothing else (a job's status, which is answered
 * from its finished row while Redis is down) passes `whenBlind: 'allow'` and is answered unlimited then.
 */
export async function enforceRateLimit(
  limiter: RateLimiter,
  config: BridgeConfig,
  principal: Principal,
  bucket: RateLimitBucket,
  res: Response,
  whenBlind: 'refuse' | 'allow' = 'refuse',
): Promise<void> {
  if (principal.kind === 'admin-token') return;
  const limit = config.api.rateLimits[bucket];
  let decision;
  try {
    decision = await redisDeadline(limiter.hit(rateSubject(principal), bucket, limit), 'the rate limiter (Redis)');
  } catch (error) {
    if (whenBlind === 'allow') return;
    if (error instanceof HttpError) throw error;
    throw new DependencyUnavailableError('the rate limiter (Redis)');
  }
  res.setHeader('X-RateLimit-Limit', String(decision.limit));
  res.setHeader('X-RateLimit-Remaining', String(decision.remaining));
  res.setHeader('X-RateLimit-Reset', String(decision.resetAt));
  if (!decision.allowed) {
    throw new HttpError(
      429,
      'RATE_LIMITED',
      `rate limit of ${limit} requests per ${config.api.rateLimitWindowSeconds} s exceeded for this key (${bucket})`,
      undefined,
      decision.retryAfterSeconds,
    );
  }
}
