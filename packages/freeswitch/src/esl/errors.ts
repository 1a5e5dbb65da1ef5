/** Event-socket errors. `code` is stable; messages never include the password. */

export class EslAuthError extends Error {
  readonly code = 'ESL_AUTH_FAILED';
  constructor(readonly replyText: string) {
    super(`event socket rejected the password (${replyText})`);
    this.name = 'EslAuthError';
  }
}

export class EslTimeoutError extends Error {
  readonly code = 'ESL_TIMEOUT';
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`event socket command "${command}" got no reply within ${timeoutMs} ms`);
    this.name = 'EslTimeoutError';
  }
}

/** FreeSWITCH answered, but with -ERR (or a body the caller treats as failure). */
export class EslCommandError extends Error {
  readonly code = 'ESL_COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly reply: string,
  ) {
    super(`event socket command "${command}" failed: ${reply.trim()}`);
    this.name = 'EslCommandError';
  }
}

export type EslConnectionReason = 'unreachable' | 'closed' | 'rejected' | 'protocol';

/** Could not connect, the connection dropped, or FreeSWITCH's ACL refused us (rude-rejection). */
export class EslConnectionError extends Error {
  readonly code: 'ESL_CONNECTION' | 'ESL_ACCESS_DENIED';
  constructor(
    readonly reason: EslConnectionReason,
    message: string,
  ) {
    super(message);
    this.name = 'EslConnectionError';
    this.code = reason === 'rejected' ? 'ESL_ACCESS_DENIED' : 'ESL_CONNECTION';
  }
}
