import type { Pool } from 'pg';
import type Redis from 'ioredis';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { QueueSet } from '@ictvoip/queue';
import type { ApiKeysRepository, InboxRepository } from '@ictvoip/store';
import type { EslClient } from '@ictvoip/fusionpbx';
import type { TrustProxy, WhitelistWatcher } from '@ictvoip/whitelist';
import type { ApiMetrics } from './metrics';

/** A readiness probe: resolves when the dependency answers, rejects with the reason otherwise. */
export type ReadinessCheck = () => Promise<void>;

export interface ApiDeps {
  config: BridgeConfig;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  queues: QueueSet;
  inbox: InboxRepository;
  whitelist: WhitelistWatcher;
  trustProxy: TrustProxy;
  readiness: Record<string, ReadinessCheck>;
  metrics?: ApiMetrics;
  /** REST /v1: FusionPBX's database, the event socket (short timeouts), API keys. */
  fusionPool: Pool;
  esl: EslClient;
  apiKeys: ApiKeysRepository;
}
