/** A phone number is already an inbound destination of another FusionPBX domain on the same server. */
export class NumberOwnedError extends Error {
  readonly code = 'NUMBER_TAKEN';
  constructor(
    readonly number: string,
    readonly ownerDomain: string | null,
  ) {
    super(`number ${number} is already an inbound destination of ${ownerDomain === null ? 'a global (domain-less) destination' : `domain ${ownerDomain}`}`);
    this.name = 'NumberOwnedError';
  }
}
