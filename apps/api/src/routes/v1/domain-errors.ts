import { writeRejectionOf, type WriteRejection } from '@ictvoip/fusionpbx';
import { EslAuthError, EslCommandError, EslConnectionError, EslTimeoutError } from '@ictvoip/freeswitch';
import { HttpError, lockTimeoutAnswer } from '../../errors';

const ESL_RETRY_AFTER_SECONDS = 5;

export class EventSocketUnavailableError extends HttpError {
  constructor(reason: string) {
    super(503, 'EVENT_SOCKET_UNAVAILABLE', `FreeSWITCH event socket unavailable: ${reason}`, undefined, ESL_RETRY_AFTER_SECONDS);
  }
}

export const isEslFailure = (error: unknown) =>
  error instanceof EslConnectionError || error instanceof EslTimeoutError || error instanceof EslAuthError || error instanceof EventSocketUnavailableError;

/** A refusal stored by a write job (or raised here), as the contract's answer. */
export function rejectionToHttpError(rejection: WriteRejection, fieldPrefix = 'body'): HttpError {
  if (rejection.status === 400)
    return new HttpError(400, 'VALIDATION_FAILED', 'request is invalid (1 problem)', [{ path: `${fieldPrefix}.${rejection.field ?? 'body'}`, message: rejection.message }]);
  return new HttpError(rejection.status, rejection.code, rejection.message);
}

/** Turns the FusionPBX adapter's typed errors into the contract's answers; anything else is rethrown. */
export function toHttpError(error: unknown, fieldPrefix = 'body'): unknown {
  if (error instanceof HttpError) return error;
  const rejection = writeRejectionOf(error);
  if (rejection) return rejectionToHttpError(rejection, fieldPrefix);
  // Each lock says what was busy (TENANT_BUSY only for the service's provisioning lock).
  const busy = lockTimeoutAnswer(error);
  if (busy) return busy;
  if (isEslFailure(error)) return new EventSocketUnavailableError((error as Error).message);
  if (error instanceof EslCommandError) return new HttpError(502, 'FREESWITCH_ERROR', (error as Error).message);
  return error;
}

/**
 * A refusal of a write names its field as the body's (`body.<field>`): a field the route takes in its
 * URL and not in its body (`DELETE …/extensions/{extension}`) is renamed `params.<field>`, where the
 * caller sent it. Other errors are returned as they are.
 */
export function namedWhereSent(error: unknown, urlParams: readonly string[], bodyKeys: readonly string[]): unknown {
  if (!(error instanceof HttpError) || !error.details?.length) return error;
  const inUrl = (field: string) => urlParams.includes(field) && !bodyKeys.includes(field);
  const renamed = error.details.map((detail) => {
    const field = /^body\.([A-Za-z0-9_]+)$/.exec(detail.path)?.[1];
    return field && inUrl(field) ? { ...detail, path: `params.${field}` } : detail;
  });
  if (renamed.every((detail, index) => detail === error.details![index])) return error;
  return new HttpError(error.status, error.code, error.message, renamed, error.retryAfterSeconds);
}
