import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import {
  createTestDatabase,
  deleteRedisPrefix,
  loadFusionpbxSchema,
  seedFusionpbxBasics,
  startEslStandin,
  TEST_REDIS_URL,
  TEST_WEBHOOK_SECRET,
  uniqueQueuePrefix,
  type EslStandin,
  type TestDatabase,
} from '@ictvoip/testkit';

/** Every benchmark database commits as production does (each commit waits for its WAL flush): the figures are the durable path's. */
export const DURABLE = { durableCommits: true } as const;

export const BENCH_TEMPLATE_DOMAIN = 'template.pbx.test';
export const BENCH_BASE_DOMAIN = 'pbx.example.net';
export const BENCH_GATEWAY_TEMPLATE = 'carrier';

/** Everything one benchmark needs of its own: databases, a queue prefix, an ESL stand-in, files. */
export interface BenchBridge {
  env: Record<string, string>;
  bridgeDb: TestDatabase;
  fusionDb: TestDatabase;
  fusion: Pool;
  esl: EslStandin;
  prefix: string;
  secret: string;
  close(): Promise<void>;
}

const PROVISIONING_FILE = {
  gatewayTemplates: {
    [BENCH_GATEWAY_TEMPLATE]: {
      name: 'carrier-out',
      proxy: 'sip.carrier.example.net',
      register: true,
      username: 'trunk-user',
      password: 'trunk-secret-123',
      registerTransport: 'udp',
      expireSeconds: 600,
      context: 'public',
      profile: 'external',
      channels: 30,
    },
  },
};

export async function createBenchBridge(label: string, extraEnv: Record<string, string> = {}): Promise<BenchBridge> {
  const [bridgeDb, fusionDb] = await Promise.all([createTestDatabase(`bench_${label}`, DURABLE), createTestDatabase(`bench_${label}_fpbx`, DURABLE)]);
  await loadFusionpbxSchema(fusionDb.url);
  const fusion = new Pool({ connectionString: fusionDb.url, max: 4 });
  await seedFusionpbxBasics(fusion, BENCH_TEMPLATE_DOMAIN);
  const esl = await startEslStandin();
  const prefix = uniqueQueuePrefix(`bench-${label}`);
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-bench-'));
  const whitelistFile = join(dir, 'chkcon_whitelist.conf');
  writeFileSync(whitelistFile, '127.0.0.1\n::1\n');
  const provisioningFile = join(dir, 'provisioning.json');
  writeFileSync(provisioningFile, JSON.stringify(PROVISIONING_FILE));
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    DATABASE_URL: bridgeDb.url,
    FUSIONPBX_DATABASE_URL: fusionDb.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    CHKCON_WHITELIST_FILE: whitelistFile,
    PROVISIONING_FILE: provisioningFile,
    ESL_HOST: esl.host,
    ESL_PORT: String(esl.port),
    FUSIONPBX_BASE_DOMAIN: BENCH_BASE_DOMAIN,
    FUSIONPBX_TEMPLATE_DOMAIN: BENCH_TEMPLATE_DOMAIN,
    FUSIONPBX_CACHE_METHOD: 'memcache',
    ...extraEnv,
  };
  return {
    env,
    bridgeDb,
    fusionDb,
    fusion,
    esl,
    prefix,
    secret: TEST_WEBHOOK_SECRET,
    async close() {
      await esl.stop().catch(() => undefined);
      await fusion.end().catch(() => undefined);
      await deleteRedisPrefix(prefix).catch(() => undefined);
      await Promise.allSettled([bridgeDb.drop(), fusionDb.drop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
