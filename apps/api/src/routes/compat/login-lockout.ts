import type Redis from 'ioredis';

/**
 * Wrong FusionPBX superadmin passwords per client address, counted in Redis (shared by every API
 * process): after `maxFailures` within `lockoutSeconds` of the first one, the address is refused
 * before any password check until the window ends. Checked before the bcrypt comparison, so a
 * whitelisted peer cannot guess passwords at bcrypt speed.
 */
export interface LockoutState {
  locked: boolean;
  /** seconds until the address may try again (0 when not locked) */
  retryAfterSeconds: number;
}

// One key per address: INCR, and PEXPIRE when the window opens (Redis' TTL is the window).
const FAIL_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

type FailCommand = (key: string, windowMs: number) => Promise<[number, number]>;

export class LoginLockout {
  private readonly failCommand: FailCommand;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly maxFailures: number,
    private readonly lockoutSeconds: number,
  ) {
    redis.defineCommand('ictvoipCompatLoginFail', { numberOfKeys: 1, lua: FAIL_SCRIPT });
    this.failCommand = (redis as unknown as { ictvoipCompatLoginFail: FailCommand }).ictvoipCompatLoginFail.bind(redis);
  }

  private key(address: string): string {
    return `${this.keyPrefix}:compat-login-failures:${address}`;
  }

  private state(count: number, ttlMs: number): LockoutState {
    const locked = count >= this.maxFailures && ttlMs > 0;
    return { locked, retryAfterSeconds: locked ? Math.max(Math.ceil(ttlMs / 1000), 1) : 0 };
  }

  /** Whether the address is locked out now (nothing is counted). */
  async check(address: string): Promise<LockoutState> {
    const [count, ttlMs] = await this.redis
      .multi()
      .get(this.key(address))
      .pttl(this.key(address))
      .exec()
      .then((replies) => [Number(replies?.[0]?.[1] ?? 0), Number(replies?.[1]?.[1] ?? -2)]);
    return this.state(count, ttlMs);
  }

  /** Counts one wrong password; the answer says whether this one locked the address out. */
  async fail(address: string): Promise<LockoutState & { failures: number }> {
    const [count, ttlMs] = await this.failCommand(this.key(address), this.lockoutSeconds * 1000);
    return { ...this.state(count, ttlMs), failures: count };
  }

  /** A good login from the address starts its count again. */
  async clear(address: string): Promise<void> {
    await this.redis.del(this.key(address));
  }
}
