export * from './errors';
export { columnCatalog, forgetColumnCatalog, encodeValue, maskColumns, MASKED_VALUE, type ColumnCatalog, type DbValue, type RecordedWrite, type TransactionMode } from './db';
export * from './passwords';
export * from './provisioning/types';
export {
  GUI_LIMIT_DESCRIPTION,
  GUI_LIMIT_PLAN_KEYS,
  numberPlanOf,
  parseTenantInput,
  tenantDomainName,
  type GuiLimits,
  type TenantInput,
  validateDomainName,
  validateExtension,
  validateUuid,
  validateProfile,
  validateCacheKey,
  validateSwitchname,
  validateUserAtDomain,
  validateUsername,
  validateText,
} from './provisioning/input';
export { META_CATEGORY, TRUNK_ACL_LOCK_KEY } from './provisioning/tenant-state';
export { cidrsOverlap } from './provisioning/ip-trunks';
export { routeAbbreviation } from './provisioning/outbound-routes';
export { gatewayTemplateName } from './provisioning/outbound-routes';
export { setOutboundRestriction, type OutboundRestrictionResult } from './provisioning/outbound-restriction';
export { gatewaysOfBridge, isEmergencyExpression, numbersOfExpression } from './provisioning/emergency-routes';
export { dialersThroughGateways, emergencyGatewaysOfDomain, toggleGatewayDialers, type DialersToggle, type GatewayDialers } from './provisioning/gateway-dialers';
export { createProvisioner, tenantPortalUrl, type Provisioner, type PreviewCall, type ProvisionPreview, type PurgeOptions, type PurgeResult } from './provisioning/provisioner';
export { cacheOptionsFromConfig, PREVIEW_CALLS, previewTenantEvent, PreviewUnavailableError, PROVISIONING_REFUSALS, type EventPreview } from './provisioning/preview-event';
export { DEFAULT_BRAND, loadProvisioningFile, provisionerOptionsFrom, ProvisioningFileError, type ProvisioningFile } from './provisioning/options-from-config';
export * from './tenant-resources/tenant-errors';
export * from './tenant-resources/tenant-lookup';
export * from './tenant-resources/tenant-extensions';
export * from './tenant-resources/tenant-gateways';
export { withoutStaleGatewayStarts } from './tenant-rows';
export { sendWithCurrentHangups, withoutStaleHangups } from './provisioning/tenant-state';
export { fusionpbxReadiness, missingTemplateDomain, type FusionpbxReadiness } from './readiness';
export * from './tenant-resources/tenant-cdrs';
export * from './tenant-resources/tenant-voicemail';
export * from './servers/targets';
export {
  createDemoFusionpbx,
  seedFusionpbxBasics,
  loadFusionpbxSchemaFile,
  prepareFusionpbxSchemaSql,
  FUSIONPBX_FIXTURE_PATH,
  type FusionpbxBasics,
  type SchemaLoadOptions,
} from './demo';
export { NumberOwnedError } from './destinations/errors';
export * from './tenant-resources/tenant-destinations';
export { ACTION_TYPES, type ActionRequest, type ActionType, type ActionView } from './destinations/actions';
export { dialledForms, normaliseNumber, type NumberPlan, type NumberFormat, type PhoneNumber } from './destinations/numbers';
export { CALLED_NUMBER_FIELDS, patternOf, routeClaim, type RouteClaim } from './destinations/route-claims';
export { fusionpbxPasswordMatches, legacyMd5Matches, verifySuperadmin } from './auth/superadmin-login';
export { adoptDomain, type AdoptDomainOptions, type DomainAdoption } from './provisioning/adopt';
