/** The event can never succeed as sent (bad domain, conflict with another tenant): do not retry. */
export class PermanentJobError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'PermanentJobError';
  }
}

/** The event socket did not finish a REST write's FreeSWITCH side within API_ESL_DEADLINE_MS. */
export class EslDeadlineError extends Error {
  readonly code = 'ESL_DEADLINE';
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'EslDeadlineError';
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
  // Not `instanceof Error` alone: an error raised in another realm (a vm context, a worker thread) is not one.
  const message = error instanceof Error || (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string')
    ? (error as { message: string }).message || String((error as { code?: unknown }).code ?? 'failed')
    : String(error);
  return message.slice(0, 2000);
}
