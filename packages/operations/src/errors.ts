/** The job can never succeed as sent (bad domain, conflict with another tenant, unknown service): do not retry. */
export class PermanentJobError extends Error {
  readonly code: string;
  /**
   * Its cause can pass (an operator enables a disabled server again, registers a removed one): this
   * job's attempts cannot outlast it, but the same request sent again later may succeed. False for a
   * request that can never be applied (a service the bridge does not manage, a malformed write).
   */
  readonly canPass: boolean;
  constructor(code: string, message: string, options: { canPass?: boolean } = {}) {
    super(message);
    this.code = code;
    this.canPass = options.canPass ?? false;
    this.name = 'PermanentJobError';
  }
}

/** A message safe to store and show: secrets are never part of error messages we build. */
export function describeError(error: unknown): string {
  // Not `instanceof Error` alone: an error raised in another realm (a vm context, a worker thread) is not one.
  const message =
    error instanceof Error || (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string')
      ? (error as { message: string }).message || String((error as { code?: unknown }).code ?? 'failed')
      : String(error);
  return message.slice(0, 2000);
}
