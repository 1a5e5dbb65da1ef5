import { BillingLockTimeoutError, CreditLockTimeoutError, FreeswitchLockTimeoutError, LockTimeoutError, ServerLockTimeoutError } from './transaction';

/**
 * What a caller is told of a store lock not free in time: its own code, what was busy, how long it
 * waited, and when to try again. One mapping for the API (a lock it takes itself) and the worker
 * (a REST write's job that timed out on a lock), so a /v1 client reads the same answer either way.
 */
export interface LockBusyAnswer {
  /** TENANT_BUSY, BILLING_BUSY, FREESWITCH_BUSY, CREDIT_CHECK_BUSY or FUSIONPBX_SERVER_BUSY. */
  code: string;
  /** What was busy, how long the lock was waited for, and "retry after N s". */
  message: string;
  /** The Retry-After of the answer, in seconds. */
  retryAfterSeconds: number;
}

/** A lock's wait as a person reads it: 10000 → "10 s", 250 → "250 ms". */
const waited = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/**
 * Each lock of the store has its own answer. Only the service lock means "the tenant is being
 * provisioned" (TENANT_BUSY); a billing run, a FreeSWITCH apply, a client's credit check or a
 * FusionPBX server's global write is named as what it is, so the caller knows what it waits for.
 * The Retry-After is about how long such work takes: a provisioning event or write a second or two,
 * a CDR sync or billing push of a service longer.
 */
function busy(error: LockTimeoutError | ServerLockTimeoutError): Omit<LockBusyAnswer, 'message'> & { busy: string } {
  if (error instanceof ServerLockTimeoutError) {
    const holder = error.holder === 'registration-poll' ? 'a registration poll of it is running' : 'another global gateway write to it is being applied';
    return { code: 'FUSIONPBX_SERVER_BUSY', busy: `FusionPBX server ${error.server} is busy: ${holder}`, retryAfterSeconds: 5 };
  }
  if (error instanceof BillingLockTimeoutError)
    return { code: 'BILLING_BUSY', busy: `billing of service ${error.id} is busy: a CDR sync, re-rating or billing push of it is running`, retryAfterSeconds: 10 };
  if (error instanceof FreeswitchLockTimeoutError)
    return { code: 'FREESWITCH_BUSY', busy: `service ${error.id} is busy: a worker is applying its FreeSWITCH side`, retryAfterSeconds: 5 };
  if (error instanceof CreditLockTimeoutError)
    return { code: 'CREDIT_CHECK_BUSY', busy: `the credit of WHMCS client ${error.id} is busy: a credit check of it is running`, retryAfterSeconds: 5 };
  return { code: 'TENANT_BUSY', busy: `tenant ${error.id} is busy: a provisioning event or another write of it is being applied`, retryAfterSeconds: 2 };
}

/** A store lock not acquired in time as its busy answer; null for any other error. */
export function lockBusyAnswer(error: unknown): LockBusyAnswer | null {
  if (!(error instanceof LockTimeoutError) && !(error instanceof ServerLockTimeoutError)) return null;
  const { code, busy: what, retryAfterSeconds } = busy(error);
  return { code, message: `${what} (its lock was not free within ${waited(error.waitedMs)}); retry after ${retryAfterSeconds} s`, retryAfterSeconds };
}
