/** Typed errors of the FusionPBX adapter. Every class has a stable `code`; messages never hold secrets. */

/** Bad input (event field, name, command argument); `field` names the offending field. */
export class FusionpbxValidationError extends Error {
  readonly code = 'FUSIONPBX_VALIDATION';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'FusionpbxValidationError';
  }
}

/** The domain exists but belongs to another service (or to nobody we know). Not retryable. */
export class TenantConflictError extends Error {
  readonly code = 'TENANT_CONFLICT';
  constructor(
    readonly domainName: string,
    readonly ownerServiceId: string | null,
  ) {
    super(
      ownerServiceId === null
        ? `domain ${domainName} already exists in FusionPBX and is not managed by this bridge`
        : `domain ${domainName} already belongs to service ${ownerServiceId}`,
    );
    this.name = 'TenantConflictError';
  }
}

/** No FusionPBX domain is tagged with this service (suspend/unsuspend/... before create). */
export class TenantNotFoundError extends Error {
  readonly code = 'TENANT_NOT_FOUND';
  constructor(readonly serviceId: string) {
    super(`no FusionPBX domain is tagged with service ${serviceId}`);
    this.name = 'TenantNotFoundError';
  }
}

/** The action is not allowed in the tenant's current state (e.g. change_package while suspended). */
export class TenantStateError extends Error {
  readonly code = 'TENANT_STATE';
  constructor(
    readonly serviceId: string,
    message: string,
  ) {
    super(message);
    this.name = 'TenantStateError';
  }
}

/** Provisioner options are wrong or refer to something missing in FusionPBX (template domain, group, profile). */
export class FusionpbxConfigError extends Error {
  readonly code = 'FUSIONPBX_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'FusionpbxConfigError';
  }
}

/** An extension number or alias is already used in the domain by a row we do not manage. */
export class UniquenessError extends Error {
  readonly code = 'FUSIONPBX_DUPLICATE';
  constructor(
    readonly what: string,
    readonly value: string,
    readonly domainName: string,
  ) {
    super(`${what} ${value} already exists in domain ${domainName}`);
    this.name = 'UniquenessError';
  }
}

/**
 * The plan's gateway is to be written and the tenant's domain already has a gateway of the template's
 * name the bridge did not make (gateway_edit.php, /v1): it is not taken over. Not retryable.
 */
export class GatewayNamesakeError extends UniquenessError {
  constructor(
    name: string,
    domainName: string,
    readonly gatewayUuid: string,
  ) {
    super('gateway', name, domainName);
    this.message = `${this.message} (${gatewayUuid}) and was not made by the bridge: it is not taken over; rename or delete it in FusionPBX, or name the plan's gateway template otherwise`;
    this.name = 'GatewayNamesakeError';
  }
}

/**
 * A plan's trunk CIDR overlaps one another tenant of the same FusionPBX server already holds (a node
 * named after that tenant's domain, or one taken out while that tenant is suspended). Not retryable.
 */
export class TrunkCidrOwnedError extends Error {
  readonly code = 'TRUNK_CIDR_TAKEN';
  constructor(
    readonly cidr: string,
    readonly ownerCidr: string,
    readonly ownerDomain: string,
  ) {
    super(`trunk CIDR ${cidr} ${cidr === ownerCidr ? 'is' : `overlaps ${ownerCidr}, which is`} already a trunk address of domain ${ownerDomain}`);
    this.name = 'TrunkCidrOwnedError';
  }
}
