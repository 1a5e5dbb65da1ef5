import type Redis from 'ioredis';

export type RateLimitBucket = 'standard' | 'cdrExport' | 'gateways';
/** The buckets of requests (above), the status page's, and wrong passwords (the ictVoIP endpoints' lockout). */
export type CountedBucket = RateLimitBucket | 'status' | 'loginFailures';

export interface RateLimitDecision {
  allowed: boolean;
  /** What the window has counted so far (this request included, for a hit). */
  count: number;
  limit: number;
  remaining: number;
  /** Unix seconds at which the current window ends. */
  resetAt: number;
  /** Seconds to wait before retrying (0 when allowed). */
  retryAfterSeconds: number;
}

/**
 * Fixed window per (key, bucket), counted in Redis so every API process shares it. One key per
 * window: INCR, and PEXPIRE when the window opens. The window length is Redis' own TTL, so API
 * clocks never matter; a single declared key keeps the script valid on Redis Cluster.
 */
const SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

type HitCommand = (key: string, windowMs: number) => Promise<[number, number]>;

export class RateLimiter {
  private readonly hitCommand: HitCommand;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly windowSeconds: number,
  ) {
    redis.defineCommand('ictvoipRateLimitHit', { numberOfKeys: 1, lua: SCRIPT });
    const command = (redis as unknown as { ictvoipRateLimitHit: HitCommand }).ictvoipRateLimitHit;
    this.hitCommand = command.bind(redis);
  }

  private key(subject: string, bucket: CountedBucket): string {
    return `${this.keyPrefix}:ratelimit:${subject}:${bucket}`;
  }

  /** Counts one request of `subject` in `bucket` and says whether it is within `limit`. */
  async hit(subject: string, bucket: CountedBucket, limit: number): Promise<RateLimitDecision> {
    const [count, ttlMs] = await this.hitCommand(this.key(subject, bucket), this.windowSeconds * 1000);
    return decision(count, ttlMs, limit);
  }

  /** The window's count so far, counting nothing: whether it is still within `limit`. */
  async peek(subject: string, bucket: CountedBucket, limit: number): Promise<RateLimitDecision> {
    const key = this.key(subject, bucket);
    const replies = await this.redis.multi().get(key).pttl(key).exec();
    const count = Number(replies?.[0]?.[1] ?? 0);
    const ttlMs = Number(replies?.[1]?.[1] ?? -2);
    return decision(count, Math.max(ttlMs, 0), limit);
  }

  /** Ends the window of `subject` in `bucket` now (its count starts again). */
  async reset(subject: string, bucket: CountedBucket): Promise<void> {
    await this.redis.del(this.key(subject, bucket));
  }
}

function decision(count: number, ttlMs: number, limit: number): RateLimitDecision {
  const resetAt = Math.ceil((Date.now() + ttlMs) / 1000);
  const allowed = count <= limit;
  return {
    allowed,
    count,
    limit,
    remaining: Math.max(limit - count, 0),
    resetAt,
    retryAfterSeconds: allowed ? 0 : Math.max(Math.ceil(ttlMs / 1000), 1),
  };
}
