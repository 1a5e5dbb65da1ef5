import type { Pool } from 'pg';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { FusionTarget, FusionTargets } from '@ictvoip/fusionpbx';
import type { QueueSet } from '@ictvoip/queue';
import type { AuditRepository, FusionServersRepository, InboxRepository, ServicesRepository, TenantWritesRepository } from '@ictvoip/store';
import type { WhmcsApiClient } from '@ictvoip/whmcs';
import type { OperationsDeps } from '@ictvoip/operations';
import type { WorkerMetrics } from './metrics';

/**
 * Everything the worker's jobs share. No FusionPBX server is in it: a job that acts on FusionPBX or
 * FreeSWITCH first takes an explicit scope (ScopedDeps: the FusionTarget of the server of its service,
 * its event or its name), so no handler can fall back to the default server by forgetting.
 */
export interface WorkerDeps extends Omit<OperationsDeps, 'fusionPool'> {
  config: BridgeConfig;
  logger: Logger;
  /** The bridge's own database. */
  pool: Pool;
  /** Every FusionPBX server's connections, opened on first use. */
  targets: FusionTargets;
  /** The registry of FusionPBX servers besides the default one. */
  fusionServers: FusionServersRepository;
  queues: QueueSet;
  inbox: InboxRepository;
  /** REST writes of extensions and gateways, applied by the tenant-writes jobs. */
  tenantWrites: TenantWritesRepository;
  services: ServicesRepository;
  audit: AuditRepository;
  /** WHMCS API for billing pushes; null when WHMCS_API_URL/IDENTIFIER/SECRET are not set (batches then wait). */
  whmcs: WhmcsApiClient | null;
  /** The worker's counters that jobs deep in billing count on (absent where job code runs outside a worker). */
  metrics?: Pick<WorkerMetrics, 'billingBelowCentSettled'>;
}

/**
 * The deps of a job scoped to ONE FusionPBX server: `{ ...deps, fusion: await deps.targets.get(name) }`
 * (or `forEvent`, or fusion-scope.ts's `scopeForService`). The server's database, event socket,
 * provisioner and cache are read from `fusion` and nowhere else.
 */
export interface ScopedDeps extends WorkerDeps {
  /** The server the job acts on; its `storedName` is null for the default server (FUSIONPBX_DATABASE_URL / ESL_*). */
  fusion: FusionTarget;
}
