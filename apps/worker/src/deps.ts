import type { Pool } from 'pg';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { FusionTargets, Provisioner } from '@ictvoip/fusionpbx';
import type { CacheOptions, EslClient } from '@ictvoip/freeswitch';
import type { QueueSet } from '@ictvoip/queue';
import type { AuditRepository, FusionServersRepository, InboxRepository, ServicesRepository, TenantWritesRepository } from '@ictvoip/store';
import type { WhmcsApiClient } from '@ictvoip/whmcs';
import type { OperationsDeps } from '@ictvoip/operations';

/**
 * Everything the worker's jobs share. No FusionPBX server is in it: a job that acts on FusionPBX or
 * FreeSWITCH first takes an explicit scope (ScopedDeps, from fusion-scope.ts) for the server of its
 * service, its event or its name, so no handler can fall back to the default server by forgetting.
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
}

/** The deps of a job scoped to ONE FusionPBX server: its database, event socket, provisioner and cache. */
export interface ScopedDeps extends WorkerDeps {
  fusionPool: Pool;
  esl: EslClient;
  provisioner: Provisioner;
  cacheOptions: CacheOptions;
  /** The server the fields above belong to: null = the default server (FUSIONPBX_DATABASE_URL / ESL_*). */
  fusionServer: string | null;
}
