import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from '@ictvoip/config';
import { isDatabaseUnavailable } from '@ictvoip/store';
import { isRedisUnavailable } from '@ictvoip/queue';
import { answerLog, HttpError, requestLogFields } from '../../errors';
import { unavailableDatabase } from '../../fusion-pool-errors';

/**
 * ictVoIP's answer envelope (api_endpoints.rst): `status` ("success" | "error"), `message`,
 * `timestamp` (ISO 8601 to the second, "2024-01-15T10:30:00Z"), then the endpoint's own fields.
 * Its error messages start with the documented error name ("Authentication Failed", "Missing
 * Parameters", "Invalid Request", "Server Error", "Rate Limited") so a script matching on it works.
 */

export const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function envelope(status: 'success' | 'error', message: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { status, message, timestamp: isoSeconds(new Date()), ...fields };
}

export function sendSuccess(res: Response, message: string, fields: Record<string, unknown> = {}, httpStatus = 200): void {
  res.status(httpStatus).json(envelope('success', message, fields));
}

/** An error already phrased for ictVoIP's clients. */
export class CompatError extends HttpError {
  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(status, code, message, undefined, retryAfterSeconds);
    this.name = 'CompatError';
  }
}

export const missingParameter = (field: string) => new CompatError(400, 'MISSING_PARAMETERS', `Missing Parameters: ${field} is required`);
export const invalidParameter = (field: string, why: string) => new CompatError(400, 'INVALID_REQUEST', `Invalid Request: ${field} ${why}`);

/** The documented error name for an HTTP status of /v1's errors. */
function errorName(error: HttpError): string {
  if (error.status === 401) return 'Authentication Failed';
  if (error.status === 403) return 'Access Denied';
  if (error.status === 404) return 'Not Found';
  if (error.status === 409) return 'Conflict';
  if (error.status === 429) return 'Rate Limited';
  if (error.status >= 500) return 'Server Error';
  return 'Invalid Request';
}

/** /v1's error (details included: they name the field) as ictVoIP's message. */
export function compatMessage(error: HttpError): string {
  if (error instanceof CompatError) return error.message;
  const details = error.details?.map((detail) => `${detail.path.replace(/^(body|query|params)\./, '')} ${detail.message}`).join('; ');
  return `${errorName(error)}: ${details || error.message}`;
}

export function sendCompatError(res: Response, error: HttpError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  res.status(error.status).json(envelope('error', compatMessage(error)));
}

/**
 * Everything thrown under the compatible paths answers in the envelope; never a stack trace. Every
 * 5xx is logged with its code and request id, as errorHandler logs /v1's (answerLog).
 */
export function compatErrorHandler(logger: Logger): ErrorRequestHandler {
  const logAnswer = answerLog(logger);
  const answer = (req: Request, res: Response, error: HttpError) => {
    logAnswer(req, res, error);
    sendCompatError(res, error);
  };
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (error instanceof HttpError) return answer(req, res, error);
    const parser = error as { type?: string; status?: number };
    if (parser.type === 'entity.too.large') return sendCompatError(res, new CompatError(413, 'PAYLOAD_TOO_LARGE', 'Invalid Request: request body exceeds 64 KiB'));
    if (parser.status && parser.status >= 400 && parser.status < 500)
      return sendCompatError(res, new CompatError(400, 'BAD_REQUEST', 'Invalid Request: request body could not be read'));
    if (isDatabaseUnavailable(error))
      return answer(req, res, new CompatError(503, 'DEPENDENCY_UNAVAILABLE', `Server Error: ${unavailableDatabase(error)} is unavailable; retry later`, 5));
    if (isRedisUnavailable(error)) return answer(req, res, new CompatError(503, 'DEPENDENCY_UNAVAILABLE', 'Server Error: the job queue (Redis) is unavailable; retry later', 5));
    logger.error({ err: error, status: 500, code: 'INTERNAL', ...requestLogFields(req, res) }, 'unexpected error (ictVoIP endpoint)');
    sendCompatError(res, new CompatError(500, 'INTERNAL', 'Server Error: internal error; see the bridge log for the request id'));
  };
}
