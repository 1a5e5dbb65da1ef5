import type Redis from 'ioredis';
import { RateLimiter } from '../../api-keys/rate-limiter';

/**
 * Wrong FusionPBX superadmin passwords per client address, counted in Redis like the rate limits
 * (shared by every API process, a fixed window that Redis' TTL ends): after `maxFailures` within
 * `lockoutSeconds` of the first, the address is refused before any password check until the
 * window ends. Checked before the bcrypt comparison, so a whitelisted peer cannot guess passwords
 * at bcrypt speed.
 */
export interface LockoutState {
  locked: boolean;
  /** seconds until the address may try again (0 when not locked) */
  retryAfterSeconds: number;
  /** wrong passwords counted in the window so far */
  failures: number;
}

export class LoginLockout {
  private readonly counter: RateLimiter;
  /** Locked once the failures reach maxFailures: "within the limit" is at most maxFailures - 1. */
  private readonly allowed: number;

  constructor(redis: Redis, keyPrefix: string, maxFailures: number, lockoutSeconds: number) {
    this.counter = new RateLimiter(redis, keyPrefix, lockoutSeconds);
    this.allowed = maxFailures - 1;
  }

  private static subject(address: string): string {
    return `login-${address}`;
  }

  private static state(decision: { allowed: boolean; retryAfterSeconds: number; count: number }): LockoutState {
    return { locked: !decision.allowed, retryAfterSeconds: decision.retryAfterSeconds, failures: decision.count };
  }

  /** Whether the address is locked out now (nothing is counted). */
  async check(address: string): Promise<LockoutState> {
    return LoginLockout.state(await this.counter.peek(LoginLockout.subject(address), 'loginFailures', this.allowed));
  }

  /** Counts one wrong password; the answer says whether this one locked the address out. */
  async fail(address: string): Promise<LockoutState> {
    return LoginLockout.state(await this.counter.hit(LoginLockout.subject(address), 'loginFailures', this.allowed));
  }

  /** A good login from the address starts its count again. */
  async clear(address: string): Promise<void> {
    await this.counter.reset(LoginLockout.subject(address), 'loginFailures');
  }
}
