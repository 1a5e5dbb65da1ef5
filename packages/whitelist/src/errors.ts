/** Typed errors of the whitelist package. Every error carries a stable `code` for callers. */

export interface WhitelistLineError {
  readonly file: string;
  /** 1-based line number in the file. */
  readonly line: number;
  /** The offending line as written (trimmed, truncated). */
  readonly text: string;
  /** Human-readable message, always starting with `file:line:`. */
  readonly message: string;
}

export type WhitelistErrorCode = 'WHITELIST_INVALID' | 'WHITELIST_FILE_MISSING' | 'WHITELIST_READ_FAILED' | 'WHITELIST_TOO_LARGE';

export class WhitelistError extends Error {
  override readonly name = 'WhitelistError';
  /** A file the operator fixes: @ictvoip/config's SettingFault (a process stopped by it exits EX_CONFIG). */
  readonly settingFault = true;

  constructor(
    readonly code: WhitelistErrorCode,
    message: string,
    /** Absolute path of the file concerned. */
    readonly file: string,
    /** Per-line problems (only for WHITELIST_INVALID). */
    readonly lineErrors: readonly WhitelistLineError[] = [],
  ) {
    super(message);
  }
}

export class TrustProxyError extends Error {
  override readonly name = 'TrustProxyError';
  readonly code = 'TRUST_PROXY_INVALID';
  /** The environment variable the value came from, so start-up messages can name it. */
  readonly variable = 'TRUST_PROXY';
}
