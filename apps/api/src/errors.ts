import type { ErrorRequestHandler, Response } from 'express';
import { rateLimitedWarn, type Logger } from '@ictvoip/config';
import { isDatabaseUnavailable, RateDeckMovedError } from '@ictvoip/store';
import { isRedisUnavailable } from '@ictvoip/queue';
import { BodyNotJsonError, SignatureError } from '@ictvoip/whmcs';
import { unavailableDatabase } from './fusion-pool-errors';

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error that already knows its HTTP answer. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class DependencyUnavailableError extends HttpError {
  constructor(dependency: string, retryAfterSeconds = 5) {
    super(503, 'DEPENDENCY_UNAVAILABLE', `${dependency} is unavailable; retry later`, undefined, retryAfterSeconds);
  }
}

/** The API could not listen (the port is taken, the address is not this host's): names PORT and HOST, never a crash without them. */
export class ApiListenError extends Error {
  readonly code = 'API_LISTEN_FAILED';
  constructor(port: number, host: string | null, reason: string) {
    super(`PORT ${port}${host === null ? '' : ` on HOST ${host}`}: ${reason} (set another PORT or HOST, or stop what listens there)`);
    this.name = 'ApiListenError';
  }
}

export function sendError(res: Response, error: HttpError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  const body: { code: string; message: string; details?: ErrorDetail[] } = { code: error.code, message: error.message };
  if (error.details && error.details.length > 0) body.details = error.details;
  res.status(error.status).json({ error: body });
}

interface BodyParserError {
  type?: string;
  status?: number;
  /** entity.too.large: the limit of the parser that refused the body, in bytes. */
  limit?: number;
}

/** A body limit as a person reads it: 65536 → "64 KiB", 8388608 → "8 MiB". */
export function byteSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

function fromBodyParser(error: BodyParserError): HttpError | null {
  switch (error.type) {
    case 'entity.too.large':
      // Each router has its own limit (/v1 64 KiB, the webhook 256 KiB): name the one that refused.
      return new HttpError(413, 'PAYLOAD_TOO_LARGE', typeof error.limit === 'number' ? `request body exceeds ${byteSize(error.limit)}` : 'request body is too large');
    case 'entity.parse.failed':
      return new HttpError(400, 'INVALID_JSON', 'request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'request body encoding or charset is not supported');
    case 'request.aborted':
      return new HttpError(400, 'REQUEST_ABORTED', 'request was aborted by the client');
    default:
      return error.status && error.status >= 400 && error.status < 500 ? new HttpError(error.status, 'BAD_REQUEST', 'request could not be read') : null;
  }
}

// A deck import commits in seconds: by then a read of the deck finds one revision.
const RATE_DECK_MOVED_RETRY_AFTER_SECONDS = 5;

/**
 * The store's typed errors that are no fault of the request: a read of a rate deck that was
 * re-imported under it again and again is a 503 with its code and when to try again, not a bare 500.
 */
function fromStore(error: unknown): HttpError | null {
  if (error instanceof RateDeckMovedError) return new HttpError(503, error.code, error.message, undefined, RATE_DECK_MOVED_RETRY_AFTER_SECONDS);
  return null;
}

/**
 * Turns anything thrown into the contract's error body; never a stack trace, never a 500 for bad input.
 * A 503 for a dependency that is down is a warning in the log (one line per interval with a count), so
 * an operator sees why WHMCS is told to retry.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  const warn = rateLimitedWarn(logger);
  const unavailable = (res: Response, error: DependencyUnavailableError, path: string) => {
    warn({ path }, `answered 503: ${error.message}`, `503:${error.message}`);
    sendError(res, error);
  };
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (error instanceof DependencyUnavailableError) return unavailable(res, error, req.path);
    // The WHMCS module's signature (webhook, page routes) did not verify (@ictvoip/whmcs signed-body.ts).
    if (error instanceof SignatureError) {
      // A WHMCS still signing with an old Access Hash shows up here, not only in a counter.
      warn(
        { path: req.path, peer: req.ip },
        `refused a signed request: ${error.message} (the WHMCS server's Access Hash must equal WEBHOOK_SECRET)`,
        `401:${req.path}:${error.message}`,
      );
      return sendError(res, new HttpError(401, 'UNAUTHORIZED', error.message));
    }
    if (error instanceof HttpError) return sendError(res, error);
    if (error instanceof BodyNotJsonError) return sendError(res, new HttpError(400, error.code, error.message));
    const parsed = fromBodyParser(error as BodyParserError);
    if (parsed) return sendError(res, parsed);
    const stored = fromStore(error);
    if (stored) {
      // An operator re-importing a deck in a loop shows up in the log, once per interval.
      warn({ path: req.path }, `answered ${stored.status}: ${stored.message}`, `${stored.status}:${stored.code}`);
      return sendError(res, stored);
    }
    if (isDatabaseUnavailable(error)) return unavailable(res, new DependencyUnavailableError(unavailableDatabase(error)), req.path);
    if (isRedisUnavailable(error)) return unavailable(res, new DependencyUnavailableError('the job queue (Redis)'), req.path);
    logger.error({ err: error, path: req.path, requestId: res.locals.requestId }, 'unexpected error');
    sendError(res, new HttpError(500, 'INTERNAL', 'internal error; see the bridge log for the request id'));
  };
}
