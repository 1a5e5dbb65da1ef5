import type { Pool } from 'pg';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { FusionTargets, Provisioner } from '@ictvoip/fusionpbx';
import type { CacheOptions, EslClient } from '@ictvoip/freeswitch';
import type { QueueSet } from '@ictvoip/queue';
import type { AuditRepository, FusionServersRepository, InboxRepository, ServicesRepository, TenantWritesRepository } from '@ictvoip/store';
import type { WhmcsApiClient } from '@ictvoip/whmcs';
import type { OperationsDeps } from '@ictvoip/operations';

/** Everything the worker's jobs use; a superset of what the shared operations take (OperationsDeps). */
export interface WorkerDeps extends OperationsDeps {
  config: BridgeConfig;
  logger: Logger;
  /** The bridge's own database. */
  pool: Pool;
  /**
   * FusionPBX's database, event socket, provisioner and cache of ONE server: the default server's
   * at the top level; inside a job about a service, that service's server (see fusion-scope.ts).
   */
  fusionPool: Pool;
  esl: EslClient;
  provisioner: Provisioner;
  cacheOptions: CacheOptions;
  /** The server the four fields above belong to: null = the default server (FUSIONPBX_DATABASE_URL / ESL_*). */
  fusionServer: string | null;
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
}
