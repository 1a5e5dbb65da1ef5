/**
 * The X-Request-Id the bridge keeps (logs, jobs, and a /v1 write's idempotency key). Any other given
 * id is replaced by a generated one; a /v1 write refuses it instead (its repeat would not be the same write).
 */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export const REQUEST_ID_RULE = '1 to 100 characters, letters, digits, ".", "_" or "-"';
