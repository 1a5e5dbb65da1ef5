export { syncTenantCdrs, type CdrSyncHooks, type CdrSyncOptions, type CdrSyncOutcome } from './sync-tenant';
export { fanOutCdrSync } from './sync-all';
export { cdrBacklog, cdrBacklogByTenant, type TenantCdrBacklog } from './backlog';
export { reconcileCdrs, type CdrReconcileDay, type CdrReconcileOptions, type CdrReconcileOutcome } from './reconcile';
