export { describeError, PermanentJobError } from '@ictvoip/operations';

/** The event socket did not finish a REST write's FreeSWITCH side within API_ESL_DEADLINE_MS. */
export class EslDeadlineError extends Error {
  readonly code = 'ESL_DEADLINE';
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'EslDeadlineError';
  }
}

export class HandlerRegistryError extends Error {
  readonly code = 'HANDLER_REGISTRY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'HandlerRegistryError';
  }
}
