import type Redis from 'ioredis';
import { RateLimiter } from '../../api-keys/rate-limiter';

/**
 * Wrong FusionPBX superadmin passwords per client address, counted in Redis like the rate limits
 * (shared by every API process, a fixed window that Redis' TTL ends): after `maxFailures` within
 * `lockoutSeconds` of the first, the address is refused before any password check until the
 * window ends. Checked before the bcrypt comparison, so a whitelisted peer cannot guess passwords
 * at bcrypt speed; and each check is counted before it is made (attempt), so a burst of concurrent
 * guesses gets maxFailures checks per window, not one per request.
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

  constructor(
    redis: Redis,
    keyPrefix: string,
    private readonly maxFailures: number,
    lockoutSeconds: number,
  ) {
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

  /**
   * Counts one password check before it is made, as a failure until a good password clears the
   * count. `locked`: this attempt is past the limit (checks already made or in flight), so it is
   * refused unchecked; `failures` is its number in the window, maxFailures at most for one that may run.
   */
  async attempt(address: string): Promise<LockoutState> {
    return LoginLockout.state(await this.counter.hit(LoginLockout.subject(address), 'loginFailures', this.maxFailures));
  }

  /** A good login from the address starts its count again. */
  async clear(address: string): Promise<void> {
    await this.counter.reset(LoginLockout.subject(address), 'loginFailures');
  }
}
