import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rateLimitedWarn, type BridgeConfig, type Logger } from '@ictvoip/config';
import { closeQueues, createProducerConnection, createQueues } from '@ictvoip/queue';
import {
  ApiKeysRepository,
  bridgeApplicationName,
  createPool,
  FinishListener,
  FusionServersRepository,
  InboxRepository,
  migrateBridgeDatabase,
  ServicesRepository,
  TenantWritesRepository,
} from '@ictvoip/store';
import { loadWhitelist, parseTrustProxy } from '@ictvoip/whitelist';
import { createApp } from './app';
import type { ApiDeps, ReadinessCheck } from './deps';
import { ApiListenError } from './errors';
import { createApiMetrics } from './metrics';
import { cacheOptionsFromConfig, FusionTargets, fusionpbxReadiness, missingTemplateDomain, provisionerOptionsFrom } from '@ictvoip/fusionpbx';
import { EslClient } from '@ictvoip/freeswitch';

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

/**
 * One check per enabled registered server, as the default server's: its database holds FusionPBX's
 * schema and FUSIONPBX_TEMPLATE_DOMAIN (without it every create routed there fails), and its event
 * socket answers `status`.
 */
async function registeredServerChecks(targets: FusionTargets, registry: FusionServersRepository, templateDomain: string): Promise<Record<string, ReadinessCheck>> {
  const checks: Record<string, ReadinessCheck> = {};
  // By name only: a server whose secrets cannot be opened is its own failed check, not the registry's.
  for (const server of await registry.list()) {
    if (!server.enabled) continue;
    checks[`fusionpbx:${server.name}`] = async () => {
      const target = await targets.get(server.name);
      if (!(await fusionpbxReadiness(target.pool, templateDomain)).hasTemplateDomain) throw missingTemplateDomain(templateDomain);
      await target.esl.api('status');
    };
  }
  return checks;
}

/** Calls made while one is running share its answer; the next call after it settles runs `work` anew. */
function sharedInFlight<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => {
    running ??= work().finally(() => {
      running = null;
    });
    return running;
  };
}

/** Builds every dependency, migrates, and listens. Fails at start-up on a bad whitelist or TRUST_PROXY. */
export async function startApi(config: BridgeConfig, logger: Logger, options: StartApiOptions = {}): Promise<RunningApi> {
  const trustProxy = parseTrustProxy(config.http.trustProxy);
  // Before anything is opened: a bad PROVISIONING_FILE stops start-up with nothing left behind.
  const provisionerOptions = provisionerOptionsFrom(config);
  const whitelist = await loadWhitelist({ file: config.chkcon.whitelistFile, logger });
  // A database that is down makes these fire on every request: one line per minute with the count.
  const repeatedWarn = rateLimitedWarn(logger);
  const pool = createPool(config.database.url, { fallback_application_name: bridgeApplicationName('api') }, (error) =>
    repeatedWarn({ err: error.message }, 'bridge database connection error', `bridge-db:${error.message}`),
  );
  const fusionServers = new FusionServersRepository(pool, config.sealing);
  // Each FusionPBX server (the default one and every registered one) gets a small pool and an event socket.
  const targets = new FusionTargets({
    defaultServer: { databaseUrl: config.fusionpbx.databaseUrl, eslHost: config.esl.host, eslPort: config.esl.port, eslPassword: config.esl.password },
    loadServer: (name) => fusionServers.spec(name),
    listServers: () => fusionServers.list(),
    registry: fusionServers,
    openPool: (url, server) =>
      createPool(url, { max: 5, fallback_application_name: bridgeApplicationName('api', server) }, (error) =>
        repeatedWarn({ err: error.message, server }, 'FusionPBX database connection error', `fusion-db:${server}:${error.message}`),
      ),
    // One quick attempt, so /readyz reports a down event socket instead of waiting on backoff.
    openEsl: (connection) => new EslClient({ ...connection, connectTimeoutMs: 1500, commandTimeoutMs: 1500, reconnectAttempts: 1 }),
    provisionerOptions,
    cacheOptions: cacheOptionsFromConfig(config),
  });
  // /readyz's own checks are the default server's; routes reach a server only through fusion-scope.ts.
  const fusionPool = targets.defaultTarget.pool;
  const esl = targets.defaultTarget.esl;
  if (options.migrate !== false) await migrateBridgeDatabase(pool);
  // A registered server following FUSIONPBX_CACHE_METHOD=file never has its cache cleared: said at every start until it has its own method.
  await targets.warnAboutLocalFileCaches(logger);
  const redis = createProducerConnection(config.redis.url);
  const queues = createQueues({
    connection: redis,
    prefix: config.redis.queuePrefix,
    attempts: config.worker.jobAttempts,
    backoffMs: config.worker.jobBackoffMs,
    retention: config.redis.jobHistory,
  });
  const metrics = createApiMetrics({ queues, pool });
  // The process's one LISTEN connection, outside the pool (held as long as the API runs); started once the API listens.
  const finishes = new FinishListener({ connectionString: config.database.url, log: logger, onState: metrics.finishListener });
  // /readyz's fusionpbxDatabase and templateDomain checks share one read of FusionPBX's schema per request.
  const fusionProbe = sharedInFlight(() => fusionpbxReadiness(fusionPool, config.fusionpbx.templateDomain));
  const deps: ApiDeps = {
    config,
    logger,
    pool,
    redis,
    queues,
    inbox: new InboxRepository(pool),
    tenantWrites: new TenantWritesRepository(pool),
    finishes,
    whitelist,
    trustProxy,
    metrics,
    targets,
    fusionServers,
    apiKeys: new ApiKeysRepository(pool),
    readiness: {
      database: async () => void (await pool.query('SELECT 1')),
      redis: async () => void (await redis.ping()),
      // FusionPBX's schema answers (an empty or wrong database is down, as unreachable is).
      fusionpbxDatabase: async () => void (await fusionProbe()),
    },
    serverReadiness: () => registeredServerChecks(targets, fusionServers, config.fusionpbx.templateDomain),
    freeswitchBehind: () => new ServicesRepository(pool).freeswitchBehindSummary(),
    degradingReadiness: {
      eventSocket: async () => void (await esl.api('status')),
      // Creates would fail; every other event (a suspend) still applies: degraded, not out of the load balancer.
      templateDomain: async () => {
        if (!(await fusionProbe()).hasTemplateDomain) throw missingTemplateDomain(config.fusionpbx.templateDomain);
      },
      // BullMQ workers name their Redis connections after the queue; CLIENT LIST finds them.
      workers: async () => {
        const count = await queues.provisioning.getWorkersCount();
        if (count === 0) throw new Error('no worker is connected to the provisioning queue: webhooks are stored but not applied until one is');
      },
    },
  };
  const app = createApp(deps);
  // What start-up opened, closed again by close() or when the API cannot listen.
  const release = async () => {
    await finishes.close();
    await closeQueues(queues);
    redis.disconnect();
    await whitelist.close();
    repeatedWarn.flush();
    await Promise.allSettled([pool.end(), targets.close()]);
  };
  const port = options.port ?? config.http.port;
  const server = await new Promise<Server>((resolve, reject) => {
    // No host: Node's dual-stack default (`::` with IPv4 mapped in, 0.0.0.0 without IPv6).
    // Express 5 hands a listen error to this callback (and to no 'error' listener): the server is then not listening.
    const listening = app.listen(config.http.host === null ? { port } : { port, host: config.http.host }, (error?: NodeJS.ErrnoException) =>
      error ? reject(new ApiListenError(port, config.http.host, error.code ?? error.message)) : resolve(listening),
    );
  }).catch(async (error: unknown) => {
    await release();
    throw error;
  });
  server.keepAliveTimeout = 65_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url }, 'api listening');
  if (config.http.loopbackForDevelopmentSecrets) {
    logger.warn('development ADMIN_TOKEN or WEBHOOK_SECRET in use: the API listens on 127.0.0.1 only; set real secrets and HOST to serve WHMCS from another host');
  }
  // Started once listening: a start-up that fails before leaves no connection behind.
  finishes.start();

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    // After the server: requests still answering during a graceful shutdown are woken by it until they end.
    await release();
  };
  return { server, url, deps, close };
}
