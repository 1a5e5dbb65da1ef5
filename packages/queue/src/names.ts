/** One queue per concern, so each has its own concurrency and its own row in Bull Board. */
export const QUEUE_NAMES = {
  provisioning: 'provisioning',
  maintenance: 'maintenance',
  cdrSync: 'cdr-sync',
  billing: 'billing',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** Every job name the workers must handle; the worker refuses to start if one lacks a handler. */
export const PROVISIONING_JOBS = {
  create: 'tenant.create',
  suspend: 'tenant.suspend',
  unsuspend: 'tenant.unsuspend',
  terminate: 'tenant.terminate',
  change_package: 'tenant.change_package',
  change_password: 'tenant.change_password',
  test_connection: 'server.test_connection',
} as const;
export type ProvisioningJobName = (typeof PROVISIONING_JOBS)[keyof typeof PROVISIONING_JOBS];

export const MAINTENANCE_JOBS = {
  reconcileInbox: 'inbox.reconcile',
} as const;
export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[keyof typeof MAINTENANCE_JOBS];

export const SCHEDULER_IDS = {
  reconcileInbox: 'reconcile-inbox',
} as const;
