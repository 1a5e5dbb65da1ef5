import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { deleteRedisPrefix, loadFusionpbxSchema, seedFusionpbxBasics, startEslStandin, TEST_REDIS_URL, type EslStandin } from '@ictvoip/testkit';
import { AppProcess, spawnApp } from './processes';
import { PrivatePostgres } from './private-services';

export const TEMPLATE_DOMAIN = 'template.pbx.test';
export const BASE_DOMAIN = 'pbx.example.net';

/** Secrets with recognisable values, so the suite can look for them in every captured line and body. */
export const CHAOS_SECRETS = {
  webhook: 'chaos-webhook-secret-7f3a9c1e5b2d4f60',
  admin: 'chaos-admin-token-0d9e8c7b6a5f4e3d',
  esl: 'ChaosEslPw4c2e91',
  servicePassword: 'Svc-Pass-Chaos-91f2!',
} as const;

export interface ChaosBridgeOptions {
  /**
   * PostgreSQL admin URL the two databases are created on. Default: a private cluster started for
   * this bridge and removed by close() — several worker processes at concurrency 8 hold ~100
   * connections, which would exhaust a shared server other tests use.
   */
  pgAdminUrl?: string;
  redisUrl?: string;
  env?: Record<string, string>;
}

async function createDatabaseOn(adminUrl: string, label: string): Promise<string> {
  const name = `ictvoip_chaos_${label}_${randomBytes(4).toString('hex')}`;
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabaseOn(adminUrl: string, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * A bridge made of real processes: N `apps/api` and M `apps/worker`, one bridge database and one
 * FusionPBX database (schema + seed), an event-socket stand-in in this process, one queue prefix.
 */
export class ChaosBridge {
  readonly apis: AppProcess[] = [];
  readonly workers: AppProcess[] = [];
  /** Every process ever started (killed ones included): their output is checked for secrets. */
  readonly everyProcess: AppProcess[] = [];
  /** The private cluster this bridge started (none when the caller named a server). */
  private ownPostgres: PrivatePostgres | null = null;

  private constructor(
    readonly env: Record<string, string>,
    readonly pgAdminUrl: string,
    readonly bridgeUrl: string,
    readonly fusionUrl: string,
    readonly bridge: Pool,
    readonly fusion: Pool,
    readonly esl: EslStandin,
    readonly prefix: string,
  ) {}

  static async start(options: ChaosBridgeOptions = {}): Promise<ChaosBridge> {
    const ownPostgres = options.pgAdminUrl ? null : await PrivatePostgres.start();
    const pgAdminUrl = options.pgAdminUrl ?? ownPostgres!.adminUrl;
    const [bridgeUrl, fusionUrl] = await Promise.all([createDatabaseOn(pgAdminUrl, 'bridge'), createDatabaseOn(pgAdminUrl, 'fusion')]);
    await loadFusionpbxSchema(fusionUrl);
    const fusion = new Pool({ connectionString: fusionUrl, max: 4 });
    fusion.on('error', () => undefined);
    await seedFusionpbxBasics(fusion, TEMPLATE_DOMAIN);
    const bridge = new Pool({ connectionString: bridgeUrl, max: 4 });
    bridge.on('error', () => undefined);
    const esl = await startEslStandin({ password: CHAOS_SECRETS.esl });
    const prefix = `{chaos-${randomBytes(4).toString('hex')}}`;
    const dir = mkdtempSync(join(tmpdir(), 'ictvoip-chaos-'));
    const whitelistFile = join(dir, 'chkcon_whitelist.conf');
    writeFileSync(whitelistFile, '127.0.0.1\n::1\n');
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      DATABASE_URL: bridgeUrl,
      FUSIONPBX_DATABASE_URL: fusionUrl,
      REDIS_URL: options.redisUrl ?? TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      WEBHOOK_SECRET: CHAOS_SECRETS.webhook,
      ADMIN_TOKEN: CHAOS_SECRETS.admin,
      CHKCON_WHITELIST_FILE: whitelistFile,
      ESL_HOST: esl.host,
      ESL_PORT: String(esl.port),
      ESL_PASSWORD: CHAOS_SECRETS.esl,
      ESL_TIMEOUT_MS: '1000',
      FUSIONPBX_BASE_DOMAIN: BASE_DOMAIN,
      FUSIONPBX_TEMPLATE_DOMAIN: TEMPLATE_DOMAIN,
      FUSIONPBX_CACHE_METHOD: 'memcache',
      WORKER_CONCURRENCY: '8',
      JOB_ATTEMPTS: '30',
      JOB_BACKOFF_MS: '200',
      RECONCILE_EVERY_SECONDS: '2',
      RECONCILE_AFTER_SECONDS: '3',
      SHUTDOWN_DEADLINE_MS: '5000',
      // A killed worker's jobs are taken over after ~5 s instead of BullMQ's default 30 s.
      WORKER_LOCK_DURATION_MS: '5000',
      ...options.env,
    };
    const chaos = new ChaosBridge(env, pgAdminUrl, bridgeUrl, fusionUrl, bridge, fusion, esl, prefix);
    chaos.ownPostgres = ownPostgres;
    return chaos;
  }

  async startApi(extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const api = await spawnApp('api', { ...this.env, ...extraEnv }, []);
    this.apis.push(api);
    this.everyProcess.push(api);
    return api;
  }

  async startWorker(extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const worker = await spawnApp('worker', { ...this.env, ...extraEnv }, []);
    this.workers.push(worker);
    this.everyProcess.push(worker);
    return worker;
  }

  liveApis(): AppProcess[] {
    return this.apis.filter((api) => api.running);
  }

  liveWorkers(): AppProcess[] {
    return this.workers.filter((worker) => worker.running);
  }

  /** Every line every process printed, for the secrets check. */
  allLines(): string[] {
    return this.everyProcess.flatMap((app) => app.lines);
  }

  async close(): Promise<void> {
    await Promise.all(this.everyProcess.map((app) => app.terminate(10000)));
    await this.esl.stop();
    await Promise.allSettled([this.bridge.end(), this.fusion.end()]);
    await deleteRedisPrefix(this.prefix, this.env.REDIS_URL).catch(() => undefined);
    await Promise.allSettled([dropDatabaseOn(this.pgAdminUrl, this.bridgeUrl), dropDatabaseOn(this.pgAdminUrl, this.fusionUrl)]);
    await this.ownPostgres?.stop();
  }
}
