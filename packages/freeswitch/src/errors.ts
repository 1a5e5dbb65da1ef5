/** Typed errors of the FreeSWITCH side that are not event-socket failures (those are in esl/errors). */

/**
 * A value that would go into an event-socket command or a cache key is refused (a step, a command,
 * the ESL password); `field` names it. FusionPBX input checked with the same rules raises the
 * fusionpbx package's `FusionpbxValidationError` instead.
 */
export class FreeswitchValidationError extends Error {
  readonly code = 'FREESWITCH_VALIDATION';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'FreeswitchValidationError';
  }
}
