import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Pool } from 'pg';
import type { Queue } from 'bullmq';
import { loadConfig, type BridgeConfig } from '@ictvoip/config';
import {
  createBridgeTestDatabase,
  deleteRedisPrefix,
  createFusionpbxTestDatabase,
  seedFusionpbxBasics,
  startEslStandin,
  TEST_REDIS_URL,
  TEST_SEALING_KEY,
  TEST_WEBHOOK_SECRET,
  uniqueQueuePrefix,
  type EslStandin,
  type TestDatabase,
} from '@ictvoip/testkit';
import { startApi, type RunningApi } from '@ictvoip/api';
import { fixDrift, type DriftFixResult, type DriftReport } from '@ictvoip/operations';
import { startWorker, type RunningWorker, type StartWorkerOptions } from '../src';

export const TEMPLATE_DOMAIN = 'template.pbx.test';

/** A whole bridge on loopback: its database, a FusionPBX database, an ESL stand-in, a queue prefix. */
export interface Bridge {
  config: BridgeConfig;
  env: Record<string, string>;
  bridgeDb: TestDatabase;
  fusionDb: TestDatabase;
  fusion: Pool;
  esl: EslStandin;
  prefix: string;
  logLines: string[];
  logger: Logger;
  api: RunningApi | null;
  worker: RunningWorker | null;
  url: string;
  startApi(): Promise<RunningApi>;
  startWorker(options?: StartWorkerOptions): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface BridgeOptions {
  /** Password the event-socket stand-in accepts (the bridge gets it as ESL_PASSWORD). */
  eslPassword?: string;
  /** Level of the captured log lines (default debug). */
  logLevel?: string;
}

export async function startBridge(env: Record<string, string> = {}, options: BridgeOptions = {}): Promise<Bridge> {
  const [bridgeDb, fusionDb] = await Promise.all([createBridgeTestDatabase('bridge'), createFusionpbxTestDatabase('fusion')]);
  const fusion = new Pool({ connectionString: fusionDb.url, max: 3 });
  await seedFusionpbxBasics(fusion, TEMPLATE_DOMAIN);
  const esl = await startEslStandin(options.eslPassword ? { password: options.eslPassword } : {});
  const prefix = uniqueQueuePrefix('e2e');
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-e2e-'));
  const whitelistFile = join(dir, 'chkcon_whitelist.conf');
  writeFileSync(whitelistFile, '127.0.0.1\n::1\n');
  const fullEnv: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    DATABASE_URL: bridgeDb.url,
    FUSIONPBX_DATABASE_URL: fusionDb.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    SEALING_KEY: TEST_SEALING_KEY,
    CHKCON_WHITELIST_FILE: whitelistFile,
    ESL_HOST: esl.host,
    ESL_PORT: String(esl.port),
    ...(options.eslPassword ? { ESL_PASSWORD: options.eslPassword } : {}),
    // The production default: a loaded CI box answers slowly at times; a test of the timeout sets its own.
    ESL_TIMEOUT_MS: '5000',
    FUSIONPBX_BASE_DOMAIN: 'pbx.example.net',
    FUSIONPBX_TEMPLATE_DOMAIN: TEMPLATE_DOMAIN,
    FUSIONPBX_CACHE_METHOD: 'memcache',
    JOB_ATTEMPTS: '20',
    JOB_BACKOFF_MS: '100',
    RECONCILE_EVERY_SECONDS: '1',
    RECONCILE_AFTER_SECONDS: '1',
    SHUTDOWN_DEADLINE_MS: '3000',
    // The suites written for calendar months keep them; service billing periods are tested with BILLING_PERIODS=service.
    BILLING_PERIODS: 'calendar',
    ...env,
  };
  const config = loadConfig(fullEnv);
  const logLines: string[] = [];
  const logger = pino({ level: options.logLevel ?? 'debug' }, { write: (line: string) => void logLines.push(line) });
  const bridge: Bridge = {
    config,
    env: fullEnv,
    bridgeDb,
    fusionDb,
    fusion,
    esl,
    prefix,
    logLines,
    logger,
    api: null,
    worker: null,
    url: '',
    async startApi() {
      bridge.api = await startApi(config, logger, { port: 0 });
      bridge.url = bridge.api.url;
      return bridge.api;
    },
    async startWorker(options = {}) {
      bridge.worker = await startWorker(config, logger, options);
      return bridge.worker;
    },
    async close() {
      await bridge.worker?.close();
      await bridge.api?.close();
      await esl.stop();
      await fusion.end();
      await deleteRedisPrefix(prefix);
      await Promise.all([bridgeDb.drop(), fusionDb.drop()]);
    },
  };
  return bridge;
}

/** Runs `work` with the bridge's worker stopped (a write queued meanwhile waits), then starts it again. */
export async function withoutWorker<T>(bridge: Bridge, work: () => Promise<T>): Promise<T> {
  await bridge.worker!.close();
  try {
    return await work();
  } finally {
    await bridge.startWorker({ schedulers: false });
  }
}

export async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 15000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One line pino wrote (a JSON object a line). */
export type LogRecord = Record<string, unknown>;

/** The bridge's log lines as records, only those `keep` accepts. */
export function logRecords(bridge: Pick<Bridge, 'logLines'>, keep: (record: LogRecord) => boolean): LogRecord[] {
  return bridge.logLines.map((line) => JSON.parse(line) as LogRecord).filter(keep);
}

/**
 * Waits until `queue` has no waiting or active job. A `?wait=` answer comes on the commit that finishes
 * the event, a moment before BullMQ moves its job from active to completed: a test comparing job counts
 * before and after something waits for this first.
 */
export async function waitForIdleQueue(queue: Pick<Queue, 'getJobCounts'>, timeoutMs = 10000): Promise<void> {
  await waitFor(
    async () => {
      const counts = await queue.getJobCounts('waiting', 'active');
      return counts.waiting === 0 && counts.active === 0;
    },
    timeoutMs,
    'the queue to be idle',
  );
}

/**
 * `fixDrift` twice on one report with the provisioning worker paused: the second run must see the
 * first run's events still pending (outcome `already_pending`), not already applied.
 */
export async function fixDriftTwiceWhilePaused(bridge: Bridge, report: DriftReport): Promise<[DriftFixResult, DriftFixResult]> {
  const provisioning = bridge.worker!.workers[0]!;
  const sources = { pool: bridge.worker!.deps.pool, queues: bridge.worker!.deps.queues };
  await provisioning.pause();
  try {
    return [await fixDrift(report, sources), await fixDrift(report, sources)];
  } finally {
    await provisioning.resume();
  }
}

/**
 * Active tenants with their FusionPBX domain and enabled extensions (the watched set of a
 * registration poll). Returns each extension's uuid by `extension@domain`, and each domain's uuid.
 */
export async function seedWatchedTenants(
  bridge: Bridge,
  tenants: readonly { serviceId: number; domain: string }[],
  extensions: readonly string[],
): Promise<{ extensionUuids: Map<string, string>; domainUuids: Map<string, string> }> {
  const extensionUuids = new Map<string, string>();
  const domainUuids = new Map<string, string>();
  for (const tenant of tenants) {
    await bridge.worker!.deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES ($1, 1, $2, 'active')`, [
      tenant.serviceId,
      tenant.domain,
    ]);
    const domainUuid = randomUUID();
    domainUuids.set(tenant.domain, domainUuid);
    await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, tenant.domain]);
    for (const extension of extensions) {
      const uuid = randomUUID();
      extensionUuids.set(`${extension}@${tenant.domain}`, uuid);
      await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, enabled) values ($1, $2, $3, 'true')`, [uuid, domainUuid, extension]);
    }
  }
  return { extensionUuids, domainUuids };
}

/** A second FusionPBX server for a test: its own database (FusionPBX's schema, the template domain) and its own event-socket stand-in. */
export interface SecondFusionServer {
  db: TestDatabase;
  pool: Pool;
  esl: EslStandin;
  close(): Promise<void>;
}

export async function startSecondFusionServer(eslPassword: string): Promise<SecondFusionServer> {
  const db = await createFusionpbxTestDatabase('fusion2');
  const pool = new Pool({ connectionString: db.url, max: 3 });
  await seedFusionpbxBasics(pool, TEMPLATE_DOMAIN);
  const esl = await startEslStandin({ password: eslPassword, switchname: 'fs-two.example.net' });
  return {
    db,
    pool,
    esl,
    async close() {
      await esl.stop();
      await pool.end();
      await db.drop();
    },
  };
}
