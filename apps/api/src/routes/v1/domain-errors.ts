import {
  EslAuthError,
  EslCommandError,
  EslConnectionError,
  EslTimeoutError,
  FusionpbxValidationError,
  ManagedResourceError,
  QuotaExceededError,
  ResourceNotFoundError,
  TenantNotFoundError,
  TenantStateError,
  UniquenessError,
} from '@ictvoip/fusionpbx';
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

/** Turns the FusionPBX adapter's typed errors into the contract's answers; anything else is rethrown. */
export function toHttpError(error: unknown, fieldPrefix = 'body'): unknown {
  if (error instanceof HttpError) return error;
  if (error instanceof FusionpbxValidationError) return new HttpError(400, 'VALIDATION_FAILED', 'request is invalid (1 problem)', [{ path: `${fieldPrefix}.${error.field}`, message: error.message }]);
  if (error instanceof QuotaExceededError) return new HttpError(409, 'QUOTA_EXCEEDED', error.message);
  if (error instanceof UniquenessError) return new HttpError(409, 'ALREADY_EXISTS', error.message);
  if (error instanceof ManagedResourceError) return new HttpError(409, 'MANAGED_BY_PLAN', error.message);
  if (error instanceof ResourceNotFoundError) return new HttpError(404, 'NOT_FOUND', error.message);
  if (error instanceof TenantStateError) return new HttpError(409, 'TENANT_NOT_ACTIVE', error.message);
  if (error instanceof TenantNotFoundError) return new HttpError(409, 'TENANT_NOT_PROVISIONED', error.message);
  if (error instanceof LockTimeoutError) return new HttpError(503, 'TENANT_BUSY', 'the tenant is being provisioned right now; retry shortly', undefined, 2);
  if (isEslFailure(error)) return new EventSocketUnavailableError((error as Error).message);
  if (error instanceof EslCommandError) return new HttpError(502, 'FREESWITCH_ERROR', (error as Error).message);
  return error;
}
