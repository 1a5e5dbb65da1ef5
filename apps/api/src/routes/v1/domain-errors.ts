import { writeRejectionOf, type WriteRejection } from '@ictvoip/fusionpbx';
import { EslAuthError, EslCommandError, EslConnectionError, EslTimeoutError } from '@ictvoip/freeswitch';
import { LockTimeoutError } from '@ictvoip/store';
import { HttpError } from '../../errors';

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
  if (error instanceof LockTimeoutError) return new HttpError(503, 'TENANT_BUSY', 'the tenant is being provisioned right now; retry shortly', undefined, 2);
  if (isEslFailure(error)) return new EventSocketUnavailableError((error as Error).message);
  if (error instanceof EslCommandError) return new HttpError(502, 'FREESWITCH_ERROR', (error as Error).message);
  return error;
}
