/**
 * What the worker's jobs and the CLI both run: the drift report and its fix, re-rating a period,
 * the CDR backfill's preview, and the CDR reading and rating they share. Depends on packages only.
 */
export type { OperationsDeps } from './deps';
export { describeError, PermanentJobError } from './errors';
export { currencyMismatch, type CurrencyMismatch, type RatedWhat } from './currency';
export {
  countCdrsAfter,
  cdrDigestsByDay,
  cdrExists,
  findDomainUuid,
  hasInsertDateIndex,
  NIL_UUID,
  readCdrsAfter,
  readCdrsByUuid,
  readLateImports,
  readLongCallsBefore,
  tenantCdrDomain,
  type CdrPosition,
  type LateImportWindow,
  type SourceCdr,
  type TenantCdrDomain,
} from './cdr-reader';
export { includedSecondsOf, loadServiceRating, rateInOrder, servicePeriods, toCharge, type ServiceRating } from './service-rating';
export { previewCdrBackfill, type CdrBackfillDeps, type CdrBackfillPreview } from './cdr-backfill-preview';
export { rerateServicePeriod, type RerateChange, type RerateDeps, type RerateOptions, type RerateOutcome, type ReleasedCurrencyWarning } from './rerate';
export {
  buildDriftReport,
  desiredFromWhmcs,
  driftSourcesOf,
  readFusionTenants,
  DRIFT_KINDS,
  type DriftItem,
  type DriftKind,
  type DriftReport,
  type DriftSources,
  type FusionTenantRow,
} from './drift-report';
export { WHMCS_PAGE_SIZE } from './drift-whmcs';
export { fixDrift, planFixes, previewDriftFix, DRIFT_FIX_REQUEST_ID, type DriftFix, type DriftFixPreview, type DriftFixResult, type DriftFixTargets } from './drift-fix';
export {
  cachedClientDetails,
  checkClientCredit,
  CreditControlError,
  forgetClientDetails,
  nextCreditState,
  type CreditCheckOptions,
  type CreditCheckOutcome,
  type CreditDeps,
  type CreditHooks,
  type CreditLevels,
  type ServiceCreditOutcome,
} from './credit-control';
export { adoptTenants, type AdoptDeps, type AdoptLine, type AdoptOptions, type AdoptOutcome, type AdoptSummary } from './adopt';
export { callsOnPrepaidInvoices, serviceBillingView, ServiceUnknownError, type ServiceBillingView } from './billing-view';

// Moved to the store (the CLI and the admin pages read decks at one revision too); still exported here.
export { RateDeckMovedError } from '@ictvoip/store';
