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

const isLockTimeout = (error: unknown): error is LockTimeoutError | ServerLockTimeoutError => error instanceof LockTimeoutError || error instanceof ServerLockTimeoutError;

/** A store lock not acquired in time as its busy answer; null for any other error. */
export function lockBusyAnswer(error: unknown): LockBusyAnswer | null {
  if (!isLockTimeout(error)) return null;
  const { code, busy: what, retryAfterSeconds } = busy(error);
  return { code, message: `${what} (its lock was not free within ${waited(error.waitedMs)}); retry after ${retryAfterSeconds} s`, retryAfterSeconds };
}

/**
 * How a REST write failed for good (its job's last attempt) tells the client to try again. Its answer
 * is kept: the same request repeated with the same X-Request-Id gets it again, so "retry" alone would
 * be untrue; only a request under a new X-Request-Id is a new write.
 */
export const sendAgainAdvice = (retryAfterSeconds: number) => `send it again in ${retryAfterSeconds} s with a new X-Request-Id (this one keeps this answer)`;

/**
 * The stored message of a REST write that failed for good of a cause that can pass (a lock held, a
 * server disabled, FreeSWITCH or FusionPBX failing): the cause, that the write failed, and how to send
 * it again. The one wording every such answer ends with; a write that can never be applied (a
 * malformed write, a service the bridge does not manage) gets no such advice.
 */
export const failedForGoodMessage = (cause: string, retryAfterSeconds: number) => `${cause}; the write failed: ${sendAgainAdvice(retryAfterSeconds)}`;

/**
 * A store lock a REST write's job did not get on its last attempt (of `attempts`), as the write's
 * stored answer: the lock's own code and Retry-After, what was busy, that the write failed, and how
 * to send it again. Null for any other error.
 */
export function lockBusyWriteFailure(error: unknown, attempts: number): LockBusyAnswer | null {
  if (!isLockTimeout(error)) return null;
  const { code, busy: what, retryAfterSeconds } = busy(error);
  const which = attempts > 1 ? `the last of the write's ${attempts} attempts` : "the write's only attempt";
  return {
    code,
    message: failedForGoodMessage(`${what} (its lock was not free within ${waited(error.waitedMs)} on ${which})`, retryAfterSeconds),
    retryAfterSeconds,
  };
}
