import type { ErrorRequestHandler, Request, Response } from 'express';
import { rateLimitedWarn, type Logger } from '@ictvoip/config';
import { isDatabaseUnavailable, lockBusyAnswer, RateDeckMovedError } from '@ictvoip/store';
import { isRedisUnavailable } from '@ictvoip/queue';
import { BodyNotJsonError, SignatureError } from '@ictvoip/whmcs';
import { unavailableDatabase } from './fusion-pool-errors';

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error that already knows its HTTP answer. */
export class HttpError extends Error {
  /**
   * What the 5xx's one log line adds to its code and request id (answerLog): ids and the cause the
   * client is not told, e.g. a REST write's id and Redis's own error. Never a secret or a body.
   */
  logFields?: Record<string, unknown>;

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

/** A store lock not acquired in time as a 503 with Retry-After; null for any other error. */
export function lockTimeoutAnswer(error: unknown): HttpError | null {
  // The mapping is the store's (lockBusyAnswer): the worker stores the same answer for a REST write.
  const answer = lockBusyAnswer(error);
  return answer && new HttpError(503, answer.code, answer.message, undefined, answer.retryAfterSeconds);
}

/**
 * The store's typed errors that are no fault of the request: a read of a rate deck that was
 * re-imported under it again and again, or a lock another worker holds, is a 503 with its code and
 * when to try again, not a bare 500.
 */
function fromStore(error: unknown): HttpError | null {
  if (error instanceof RateDeckMovedError) return new HttpError(503, error.code, error.message, undefined, RATE_DECK_MOVED_RETRY_AFTER_SECONDS);
  return lockTimeoutAnswer(error);
}

/**
 * Which request a 5xx's log line is about: its request id, method and full path, never the body or
 * the query (either may carry passwords). Every 5xx line the API writes carries these.
 */
export function requestLogFields(req: Request, res: Response): { requestId: unknown; method: string; path: string | undefined } {
  // originalUrl without the query: req.path is relative to a router mounted on a path (compat's).
  return { requestId: res.locals.requestId, method: req.method, path: req.originalUrl.split('?')[0] };
}

/** The fields of an answered 5xx's log line (requestLogFields, plus its status, code and logFields). */
function answeredFields(req: Request, res: Response, error: HttpError): Record<string, unknown> {
  return { ...error.logFields, status: error.status, code: error.code, ...requestLogFields(req, res) };
}

// Answers every request alike while it lasts (a dependency down, a deck re-imported in a loop).
const PER_INTERVAL_CODES = new Set(['DEPENDENCY_UNAVAILABLE', 'RATE_DECK_MOVED']);

export type AnswerLog = (req: Request, res: Response, error: HttpError) => void;

/**
 * Logs a 5xx answer once, with its code and request id, so an operator sees what WHMCS or a client
 * was told: a 500 as an error, any other 5xx as a warning. A 4xx is the client's: not logged here.
 * An outage's 503s are one warning per interval with a count (`warn`), or they would flood the log.
 */
export function answerLog(logger: Logger, warn: ReturnType<typeof rateLimitedWarn> = rateLimitedWarn(logger)): AnswerLog {
  return (req, res, error) => {
    if (error.status < 500) return;
    const fields = answeredFields(req, res, error);
    if (PER_INTERVAL_CODES.has(error.code)) return warn(fields, `answered ${error.status}: ${error.message}`, `${error.status}:${error.code}:${error.message}`);
    const line = `answered ${error.status} ${error.code}: ${error.message}`;
    if (error.status === 500) logger.error(fields, line);
    else logger.warn(fields, line);
  };
}

/**
 * Turns anything thrown into the contract's error body; never a stack trace, never a 500 for bad input.
 * Every 5xx answered is logged (answerLog); an unexpected error with its stack, for the request id.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  const warn = rateLimitedWarn(logger);
  const logAnswer = answerLog(logger, warn);
  const answer = (req: Request, res: Response, error: HttpError) => {
    logAnswer(req, res, error);
    sendError(res, error);
  };
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) return;
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
    if (error instanceof HttpError) return answer(req, res, error);
    if (error instanceof BodyNotJsonError) return sendError(res, new HttpError(400, error.code, error.message));
    const parsed = fromBodyParser(error as BodyParserError);
    if (parsed) return sendError(res, parsed);
    const stored = fromStore(error);
    if (stored) return answer(req, res, stored);
    if (isDatabaseUnavailable(error)) return answer(req, res, new DependencyUnavailableError(unavailableDatabase(error)));
    if (isRedisUnavailable(error)) return answer(req, res, new DependencyUnavailableError('the job queue (Redis)'));
    logger.error({ err: error, status: 500, code: 'INTERNAL', ...requestLogFields(req, res) }, 'unexpected error');
    sendError(res, new HttpError(500, 'INTERNAL', 'internal error; see the bridge log for the request id'));
  };
}
