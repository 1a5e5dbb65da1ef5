/**
 * Typed failures of the WHMCS API client. None of them carries the request parameters or the axios
 * error (whose config holds the form body with the API secret), so they are safe to log as they are.
 */

/** Why WHMCS answered `result: error`; it did not do the action, so the caller must not retry blindly. */
export type WhmcsRefusalKind = 'auth' | 'ip' | 'permission' | 'not_found' | 'validation';

const REFUSAL_CODES = {
  auth: 'WHMCS_AUTH_REFUSED',
  ip: 'WHMCS_AUTH_REFUSED',
  permission: 'WHMCS_AUTH_REFUSED',
  not_found: 'WHMCS_NOT_FOUND',
  validation: 'WHMCS_REJECTED',
} as const;

export type WhmcsApiErrorCode = (typeof REFUSAL_CODES)[WhmcsRefusalKind];

/** WHMCS answered and said no (`result: error`, or `status: error`). Definite: nothing was done. */
export class WhmcsApiError extends Error {
  readonly code: WhmcsApiErrorCode;
  /** WHMCS refused the call, so it did not take effect. */
  readonly mayHaveTakenEffect = false;

  constructor(
    readonly action: string,
    readonly kind: WhmcsRefusalKind,
    readonly whmcsMessage: string,
    readonly httpStatus: number,
  ) {
    super(`WHMCS ${action} refused (${kind}): ${whmcsMessage}`);
    this.name = 'WhmcsApiError';
    this.code = REFUSAL_CODES[kind];
  }
}

/**
 * - `connect`: nothing reached WHMCS (refused, DNS, unreachable): safe to send again.
 * - `timeout` / `aborted` / `reset`: the request may have been processed: reconcile before resending a write.
 * - `http_status`: a non-JSON HTTP error; 5xx may have taken effect, 4xx (proxy, WAF, wrong URL) did not.
 * - `invalid_response`: WHMCS answered 2xx with something that is not its JSON (often a PHP notice after the work).
 */
export type WhmcsTransportReason = 'connect' | 'timeout' | 'aborted' | 'reset' | 'http_status' | 'invalid_response';

export class WhmcsTransportError extends Error {
  readonly code = 'WHMCS_TRANSPORT';

  constructor(
    readonly action: string,
    readonly reason: WhmcsTransportReason,
    readonly mayHaveTakenEffect: boolean,
    detail: string,
    readonly httpStatus?: number,
  ) {
    super(`WHMCS ${action} ${mayHaveTakenEffect ? 'outcome unknown' : 'not delivered'} (${reason}): ${detail}`);
    this.name = 'WhmcsTransportError';
  }
}

/** The caller passed something WHMCS would misread (e.g. an amount that is not a 2-decimal string). */
export class WhmcsInputError extends Error {
  readonly code = 'WHMCS_INPUT_INVALID';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'WhmcsInputError';
  }
}

/** Sorts WHMCS's free-text error messages into kinds (texts as seen from WHMCS 7.x-8.x). */
export function classifyRefusal(message: string): WhmcsRefusalKind {
  if (/^invalid ip\b/i.test(message)) return 'ip';
  if (/authentication failed|invalid (api )?credentials|invalid or missing credentials/i.test(message)) return 'auth';
  if (/invalid permissions|not allowed|access denied/i.test(message)) return 'permission';
  // "Command Not Found" is an unknown action (a caller mistake), not a missing record.
  if (/not found/i.test(message) && !/command not found/i.test(message)) return 'not_found';
  return 'validation';
}
