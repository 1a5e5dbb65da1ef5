/** The event can never succeed as sent (bad domain, conflict with another tenant): do not retry. */
export class PermanentJobError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'PermanentJobError';
  }
}

/** The database part is committed; only the FreeSWITCH side failed and will be retried. */
export class PendingApplyError extends Error {
  readonly code = 'PENDING_APPLY';
  constructor(message: string) {
    super(message);
    this.name = 'PendingApplyError';
  }
}

export class HandlerRegistryError extends Error {
  readonly code = 'HANDLER_REGISTRY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'HandlerRegistryError';
  }
}

/** A message safe to store and show: secrets are never part of error messages we build. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 2000);
  return String(error).slice(0, 2000);
}
