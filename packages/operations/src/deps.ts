import type { Pool } from 'pg';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { FusionTargets } from '@ictvoip/fusionpbx';
import type { QueueSet } from '@ictvoip/queue';
import type { AuditRepository, ServicesRepository } from '@ictvoip/store';
import type { WhmcsApiClient } from '@ictvoip/whmcs';

/**
 * What the operations read and write with. The worker's deps are one (every field set); the CLI
 * builds the few a dry-run needs (both databases, no queue, event socket or WHMCS). Each operation
 * names the fields it takes with Pick.
 */
export interface OperationsDeps {
  config: BridgeConfig;
  logger?: Logger;
  /** The bridge's own database. */
  pool: Pool;
  /** FusionPBX's database: the default server's, or the one server the operation is about. */
  fusionPool: Pool;
  services: ServicesRepository;
  audit: AuditRepository;
  /** Every FusionPBX server's connections; when given, a service's calls are read from its own server. */
  targets?: Pick<FusionTargets, 'get' | 'all' | 'scan' | 'defaultTarget'> & Partial<Pick<FusionTargets, 'provisionerOptions'>>;
  /** Null (or absent) when Redis is not at hand. */
  queues?: QueueSet | null;
  /** Null (or absent) when WHMCS_API_URL is not configured. */
  whmcs?: WhmcsApiClient | null;
}
