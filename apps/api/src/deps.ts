import type { Pool } from 'pg';
import type Redis from 'ioredis';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import type { QueueSet } from '@ictvoip/queue';
import type { ApiKeysRepository, FinishWakeups, FreeswitchOwedSummary, FusionServersRepository, InboxRepository, TenantWritesRepository } from '@ictvoip/store';
import type { FusionTarget, FusionTargets } from '@ictvoip/fusionpbx';
import type { TrustProxy, WhitelistWatcher } from '@ictvoip/whitelist';
import type { ApiMetrics } from './metrics';

/** A readiness probe: resolves when the dependency answers, rejects with the reason otherwise. */
export type ReadinessCheck = () => Promise<void>;

/**
 * Everything the API's routes share. No FusionPBX server is in it: a route that reads or writes FusionPBX
 * or FreeSWITCH first takes an explicit scope (ScopedApiDeps, from fusion-scope.ts) for the tenant's server
 * or the event's, so no route can fall back to the default server by forgetting.
 */
export interface ApiDeps {
  /**
   * The instant that picks the running billing period of the usage views (status action, client
   * area); the system clock when unset. A test freezes it to the instant its calls and termination
   * are derived from, so a run across a month's end does not read two periods.
   */
  now?: () => Date;
  config: BridgeConfig;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  queues: QueueSet;
  inbox: InboxRepository;
  /** REST writes of extensions and gateways: committed here, applied by a worker's job, answered from here. */
  tenantWrites: TenantWritesRepository;
  /**
   * This process's one LISTEN connection: the finishing commit of an inbox event or a REST write wakes
   * the request waiting on it (`?wait=`, a /v1 write) at once; the poll is the fallback.
   */
  finishes: FinishWakeups;
  whitelist: WhitelistWatcher;
  trustProxy: TrustProxy;
  readiness: Record<string, ReadinessCheck>;
  /**
   * Checks of the registered FusionPBX servers, listed anew on every /readyz. Reported, but a down
   * registered server does not make /readyz 503 (status "degraded"): taking the API out of a load
   * balancer would not bring that server back and would cut off every other server's tenants.
   */
  serverReadiness?: () => Promise<Record<string, ReadinessCheck>>;
  /**
   * Checks reported in /readyz that make it "degraded" (200), not 503: `workers` (at least one worker
   * is connected to the provisioning queue) and `eventSocket` (events never wait for FreeSWITCH). Without a worker this API still stores every webhook
   * durably and answers it; a load balancer should keep sending them, so only the status says so.
   */
  degradingReadiness?: Record<string, ReadinessCheck>;
  /**
   * What FreeSWITCH is still owed (an event socket not answering): services whose side is behind
   * their FusionPBX rows, and global gateway writes whose apply is owed.
   * Reported by /readyz as "degraded", never 503: the API still takes events, which is what catches up.
   */
  freeswitchBehind?: () => Promise<FreeswitchOwedSummary>;
  metrics?: ApiMetrics;
  /** Every FusionPBX server's connections, opened on first use. */
  targets: FusionTargets;
  fusionServers: FusionServersRepository;
  apiKeys: ApiKeysRepository;
}

/**
 * The deps of a request scoped to ONE FusionPBX server (fusion-scope.ts: `{ ...deps, fusion: target }`), the
 * worker's ScopedDeps shape. The server's database, event socket, provisioner and cache are read from
 * `fusion` and nowhere else; its `storedName` is null for the default server.
 */
export interface ScopedApiDeps extends ApiDeps {
  fusion: FusionTarget;
}
