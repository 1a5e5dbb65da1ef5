import type { Pool } from 'pg';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { CacheOptions, EslClient, Provisioner } from '@ictvoip/fusionpbx';
import type { QueueSet } from '@ictvoip/queue';
import type { AuditRepository, InboxRepository, ServicesRepository } from '@ictvoip/store';
import type { WhmcsApiClient } from '@ictvoip/whmcs';

export interface WorkerDeps {
  config: BridgeConfig;
  logger: Logger;
  /** The bridge's own database. */
  pool: Pool;
  /** FusionPBX's database. */
  fusionPool: Pool;
  esl: EslClient;
  provisioner: Provisioner;
  cacheOptions: CacheOptions;
  queues: QueueSet;
  inbox: InboxRepository;
  services: ServicesRepository;
  audit: AuditRepository;
  /** WHMCS API for billing pushes; null when WHMCS_API_URL/IDENTIFIER/SECRET are not set (batches then wait). */
  whmcs: WhmcsApiClient | null;
}
