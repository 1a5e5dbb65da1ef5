/** One queue per concern, so each has its own concurrency and its own row in Bull Board. */
export const QUEUE_NAMES = {
  provisioning: 'provisioning',
  maintenance: 'maintenance',
  cdrSync: 'cdr-sync',
  billing: 'billing',
  tenantWrites: 'tenant-writes',
  monitoring: 'monitoring',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** Job names by concern; catalogue.ts gives each its queue and payload (and the worker one handler each). */
export const PROVISIONING_JOBS = {
  create: 'tenant.create',
  suspend: 'tenant.suspend',
  unsuspend: 'tenant.unsuspend',
  terminate: 'tenant.terminate',
  change_package: 'tenant.change_package',
  change_password: 'tenant.change_password',
  test_connection: 'server.test_connection',
  reconcile: 'tenant.reconcile',
} as const;
export type ProvisioningJobName = (typeof PROVISIONING_JOBS)[keyof typeof PROVISIONING_JOBS];
/** The webhook action a provisioning job serves: the keys of PROVISIONING_JOBS. */
export type ProvisioningAction = keyof typeof PROVISIONING_JOBS;

/**
 * `apply`: the FreeSWITCH side of a REST write whose event socket did not answer in time.
 * `backlog`: a service's FreeSWITCH backlog (every event's steps since the last apply, coalesced),
 * applied as one once the event socket answers; events never wait for it.
 */
export const FREESWITCH_JOBS = {
  apply: 'freeswitch.apply',
  backlog: 'freeswitch.backlog',
} as const;

/**
 * A REST write of one extension or gateway (queue tenant-writes, apart from provisioning so a burst
 * of tenant creates never holds up an operator's edit). The request itself lives in PostgreSQL.
 */
export const TENANT_WRITE_JOBS = {
  extension: 'tenant.extension.write',
  gateway: 'tenant.gateway.write',
  destination: 'tenant.destination.write',
} as const;
export type TenantWriteJobName = (typeof TENANT_WRITE_JOBS)[keyof typeof TENANT_WRITE_JOBS];

/** `driftReport`: the daily (and on-demand) drift report; the API's /admin/drift reads its results. */
export const MAINTENANCE_JOBS = {
  reconcileInbox: 'inbox.reconcile',
  driftReport: 'drift.report',
  purgeTerminated: 'tenant.purge_terminated',
} as const;
export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[keyof typeof MAINTENANCE_JOBS];

export const SCHEDULER_IDS = {
  reconcileInbox: 'reconcile-inbox',
  driftReport: 'drift-report',
  purgeTerminated: 'purge-terminated',
} as const;

/** CDR sync (queue cdr-sync): a scheduled fan-out, one job per tenant, an on-demand backfill, and the scheduled per-day count check (reconcile). */
export const CDR_JOBS = {
  syncAll: 'cdr.sync-all',
  syncTenant: 'cdr.sync-tenant',
  backfill: 'cdr.backfill',
  reconcile: 'cdr.reconcile',
} as const;
export type CdrJobName = (typeof CDR_JOBS)[keyof typeof CDR_JOBS];

/** Billing (queue billing): scheduled period close (fan-out), one push per batch, re-rating on demand. */
export const BILLING_JOBS = {
  closePeriods: 'billing.close-periods',
  pushBatch: 'billing.push-batch',
  reratePeriod: 'billing.rerate-period',
} as const;
export type BillingJobName = (typeof BILLING_JOBS)[keyof typeof BILLING_JOBS];

export const BILLING_SCHEDULER_IDS = {
  cdrSyncAll: 'cdr-sync-all',
  cdrReconcile: 'cdr-reconcile',
  billingClosePeriods: 'billing-close-periods',
} as const;

/**
 * Registration monitoring (queue monitoring): a scheduled fan-out, one poll per FusionPBX server,
 * and one alert delivery per recorded transition (job id from the history row: sent at most once).
 */
export const MONITORING_JOBS = {
  pollAll: 'registrations.poll-all',
  poll: 'registrations.poll',
  alert: 'registrations.alert',
} as const;
export type MonitoringJobName = (typeof MONITORING_JOBS)[keyof typeof MONITORING_JOBS];

export const MONITORING_SCHEDULER_IDS = {
  registrationsPollAll: 'registrations-poll-all',
} as const;

/** Credit control (queue billing): the timer's fan-out and one check per WHMCS client. */
export const CREDIT_JOBS = {
  checkAll: 'credit.check-all',
  checkClient: 'credit.check-client',
  prepaidInvoiceAll: 'credit.prepaid-invoice-all',
  prepaidInvoice: 'credit.prepaid-invoice',
} as const;
export type CreditJobName = (typeof CREDIT_JOBS)[keyof typeof CREDIT_JOBS];

export const CREDIT_SCHEDULER_IDS = {
  creditCheckAll: 'credit-check-all',
  prepaidInvoiceAll: 'credit-prepaid-invoice-all',
} as const;
