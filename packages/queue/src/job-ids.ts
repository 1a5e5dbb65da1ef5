export class JobIdError extends Error {
  readonly code = 'JOB_ID_INVALID';
  constructor(id: string, reason: string) {
    super(`job id ${JSON.stringify(id)} ${reason}`);
    this.name = 'JobIdError';
  }
}

/** BullMQ 6 rejects custom ids containing ':' and ids made only of digits; check before adding. */
export function assertValidJobId(id: string): string {
  if (id.length === 0 || id.length > 200) throw new JobIdError(id, 'must be 1..200 characters');
  if (id.includes(':')) throw new JobIdError(id, 'must not contain ":"');
  if (/^\d+$/.test(id)) throw new JobIdError(id, 'must not be all digits');
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new JobIdError(id, 'may contain only letters, digits, ".", "_" and "-"');
  return id;
}

/** Deterministic: the same event always maps to the same job, so a repeat add is a no-op. */
export function eventJobId(serviceId: number, action: string, eventId: string): string {
  return assertValidJobId(`svc-${serviceId}-${action.replace(/_/g, '-')}-${eventId}`);
}
