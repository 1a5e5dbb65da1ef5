/** Errors of the per-resource tenant writes (REST API). */

/** The plan's limit would be exceeded by this write. */
export class QuotaExceededError extends Error {
  readonly code = 'QUOTA_EXCEEDED';
  constructor(readonly resource: string, readonly limit: number) {
    super(`the plan allows at most ${limit} enabled ${resource}`);
    this.name = 'QuotaExceededError';
  }
}

/** The extension / gateway named in the request does not exist in the tenant's domain. */
export class ResourceNotFoundError extends Error {
  readonly code = 'NOT_FOUND';
  constructor(readonly resource: string, readonly id: string) {
    super(`${resource} ${id} not found`);
    this.name = 'ResourceNotFoundError';
  }
}

/** The resource belongs to the plan (written by provisioning) and is not edited per request. */
export class ManagedResourceError extends Error {
  readonly code = 'MANAGED_BY_PLAN';
  constructor(readonly resource: string, readonly id: string) {
    super(`${resource} ${id} is managed by the tenant's plan; change the plan in WHMCS instead`);
    this.name = 'ManagedResourceError';
  }
}
