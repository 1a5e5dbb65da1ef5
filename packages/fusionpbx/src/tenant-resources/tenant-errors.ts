/** Errors of the per-resource tenant writes (REST API). */
import { FreeswitchValidationError } from '@ictvoip/freeswitch';
import { FusionpbxValidationError, TenantNotFoundError, TenantStateError, TrunkCidrOwnedError, UniquenessError } from '../errors';
import { NumberOwnedError } from '../destinations/errors';

/** The plan's limit would be exceeded by this write. */
export class QuotaExceededError extends Error {
  readonly code = 'QUOTA_EXCEEDED';
  constructor(
    readonly resource: string,
    readonly limit: number,
    /** The setting the limit comes from when the plan states none (e.g. API_DEFAULT_MAX_GATEWAYS). */
    readonly setting?: string,
  ) {
    super(setting ? `at most ${limit} ${resource} per tenant (${setting}; the plan states no limit)` : `the plan allows at most ${limit} ${resource}`);
    this.name = 'QuotaExceededError';
  }
}

/** The extension / gateway named in the request does not exist in the tenant's domain. */
export class ResourceNotFoundError extends Error {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly resource: string,
    readonly id: string,
  ) {
    super(`${resource} ${id} not found`);
    this.name = 'ResourceNotFoundError';
  }
}

/** The resource belongs to the plan (written by provisioning) and is not edited per request. */
export class ManagedResourceError extends Error {
  readonly code = 'MANAGED_BY_PLAN';
  constructor(
    readonly resource: string,
    readonly id: string,
  ) {
    super(`${resource} ${id} is managed by the tenant's plan; change the plan in WHMCS instead`);
    this.name = 'ManagedResourceError';
  }
}

/**
 * The number carries what FusionPBX's destination page builds into its dialplan and the bridge's
 * rewrite does not (recording, fax detection, a second action, …): changing its action or caller-id
 * prefix here would silently drop them, so that change is made in FusionPBX.
 */
export class CustomisedInFusionpbxError extends Error {
  readonly code = 'CUSTOMISED_IN_FUSIONPBX';
  constructor(
    readonly resource: string,
    readonly id: string,
    readonly features: readonly string[],
  ) {
    super(`${resource} ${id} has settings made in FusionPBX (${features.join(', ')}) that this change would drop; change its action or caller ID prefix in FusionPBX`);
    this.name = 'CustomisedInFusionpbxError';
  }
}

/** Credit control's outbound restriction holds: switching a gateway on (or making one) is refused until a top-up. */
export class CreditRestrictedError extends Error {
  readonly code = 'CREDIT_RESTRICTED';
  constructor(
    readonly serviceId: number,
    readonly what: string,
  ) {
    super(`tenant ${serviceId} is restricted for low credit (credit control, outbound calls): ${what} is refused until a top-up lifts the restriction`);
    this.name = 'CreditRestrictedError';
  }
}

/**
 * How a per-resource write was refused, in the contract's terms (HTTP status and error code): the
 * API answers it directly, and the worker stores it for the request that queued the write.
 */
export interface WriteRejection {
  status: 400 | 404 | 409;
  code: string;
  message: string;
  /** For 400: the offending field, relative to the request body. */
  field?: string;
}

/** The rejection a tenant write's typed error stands for; null for any other error (it is not the client's). */
export function writeRejectionOf(error: unknown): WriteRejection | null {
  if (error instanceof FusionpbxValidationError || error instanceof FreeswitchValidationError)
    return { status: 400, code: 'VALIDATION_FAILED', message: error.message, field: error.field };
  if (error instanceof QuotaExceededError) return { status: 409, code: 'QUOTA_EXCEEDED', message: error.message };
  if (error instanceof UniquenessError) return { status: 409, code: 'ALREADY_EXISTS', message: error.message };
  // The owner is another tenant: a tenant's key learns that the number is taken, not by whom.
  if (error instanceof NumberOwnedError) return { status: 409, code: 'NUMBER_TAKEN', message: `number ${error.number} is already in use on this FusionPBX server` };
  if (error instanceof TrunkCidrOwnedError) return { status: 409, code: 'TRUNK_CIDR_TAKEN', message: `trunk CIDR ${error.cidr} is already in use on this FusionPBX server` };
  if (error instanceof ManagedResourceError) return { status: 409, code: 'MANAGED_BY_PLAN', message: error.message };
  if (error instanceof CustomisedInFusionpbxError) return { status: 409, code: 'CUSTOMISED_IN_FUSIONPBX', message: error.message };
  if (error instanceof CreditRestrictedError) return { status: 409, code: 'CREDIT_RESTRICTED', message: error.message };
  if (error instanceof ResourceNotFoundError) return { status: 404, code: 'NOT_FOUND', message: error.message };
  if (error instanceof TenantStateError) return { status: 409, code: 'TENANT_NOT_ACTIVE', message: error.message };
  if (error instanceof TenantNotFoundError) return { status: 409, code: 'TENANT_NOT_PROVISIONED', message: error.message };
  return null;
}
