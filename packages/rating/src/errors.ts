/**
 * Typed errors of the rating package. Each carries a stable `code` so callers can branch
 * without parsing messages. Messages never contain secrets (rating sees none).
 */

/** A decimal money string or micro-unit value that is not acceptable. */
export class MoneyFormatError extends Error {
  readonly code = 'MONEY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'MoneyFormatError';
  }
}

/** A telephone number that cannot be normalised to E.164. */
export class NumberFormatError extends Error {
  readonly code = 'NUMBER_INVALID';
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'NumberFormatError';
  }
}

/** One problem found while importing a rate deck (1-based CSV line number). */
export interface RateDeckIssue {
  readonly line: number;
  readonly column: string;
  readonly message: string;
}

/** A rate deck import that found bad lines (thrown by `assertRateDeckImported`). */
export class RateDeckError extends Error {
  readonly code = 'RATE_DECK_INVALID';
  constructor(readonly issues: readonly RateDeckIssue[]) {
    super(RateDeckError.summarise(issues));
    this.name = 'RateDeckError';
  }

  private static summarise(issues: readonly RateDeckIssue[]): string {
    const shown = issues.slice(0, 5).map((i) => `line ${i.line} ${i.column}: ${i.message}`);
    const more = issues.length > 5 ? ` (+${issues.length - 5} more)` : '';
    return `rate deck invalid: ${shown.join('; ')}${more}`;
  }
}

/** Invalid configuration handed to the library (increments, markup, policy...). */
export class RatingConfigError extends Error {
  readonly code = 'RATING_CONFIG_INVALID';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RatingConfigError';
  }
}
