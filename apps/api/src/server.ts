import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BridgeConfig, Logger } from '@ictvoip/config';
import { closeQueues, createProducerConnection, createQueues } from '@ictvoip/queue';
import { ApiKeysRepository, createPool, InboxRepository, migrateBridgeDatabase } from '@ictvoip/store';
import { loadWhitelist, parseTrustProxy } from '@ictvoip/whitelist';
import { createApp } from './app';
import type { ApiDeps } from './deps';
import { createApiMetrics } from './metrics';
import { EslClient } from '@ictvoip/fusionpbx';

export interface RunningApi {
  server: Server;
  url: string;
  deps: ApiDeps;
  close(): Promise<void>;
}

export interface StartApiOptions {
  /** Listen on this port instead of config.http.port (0 = any free port, for tests). */
  port?: number;
  migrate?: boolean;
}

/** Builds every dependency, migrates, and listens. Fails at start-up on a bad whitelist or TRUST_PROXY. */
export async function startApi(config: BridgeConfig, logger: Logger, options: StartApiOptions = {}): Promise<RunningApi> {
  const trustProxy = parseTrustProxy(config.http.trustProxy);
  const whitelist = await loadWhitelist({ file: config.chkcon.whitelistFile, logger });
  const pool = createPool(config.database.url, {}, (error) => logger.warn({ err: error.message }, 'bridge database connection error'));
  const fusionPool = createPool(config.fusionpbx.databaseUrl, { max: 5 }, (error) => logger.warn({ err: error.message }, 'FusionPBX database connection error'));
  if (options.migrate !== false) await migrateBridgeDatabase(pool);
  const redis = createProducerConnection(config.redis.url);
  // Readiness only: one quick attempt, so /readyz reports a down event socket instead of waiting on backoff.
  const esl = new EslClient({ host: config.esl.host, port: config.esl.port, password: config.esl.password, connectTimeoutMs: 1500, commandTimeoutMs: 1500, reconnectAttempts: 1 });
  const queues = createQueues({ connection: redis, prefix: config.redis.queuePrefix, attempts: config.worker.jobAttempts, backoffMs: config.worker.jobBackoffMs });
  const deps: ApiDeps = {
    config,
    logger,
    pool,
    redis,
    queues,
    inbox: new InboxRepository(pool),
    whitelist,
    trustProxy,
    metrics: createApiMetrics({ queues, pool }),
    fusionPool,
    esl,
    apiKeys: new ApiKeysRepository(pool),
    readiness: {
      database: async () => void (await pool.query('SELECT 1')),
      redis: async () => void (await redis.ping()),
      fusionpbxDatabase: async () => void (await fusionPool.query('SELECT 1')),
      eventSocket: async () => void (await esl.api('status')),
    },
  };
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(options.port ?? config.http.port, config.http.host, () => resolve(listening));
    listening.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url }, 'api listening');

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await closeQueues(queues);
    redis.disconnect();
    await whitelist.close();
    await esl.close();
    await Promise.allSettled([pool.end(), fusionPool.end()]);
  };
  return { server, url, deps, close };
}
