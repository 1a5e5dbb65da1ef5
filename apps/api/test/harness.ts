import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, type BridgeConfig } from '@ictvoip/config';
import { createBridgeTestDatabase, deleteRedisPrefix, TEST_REDIS_URL, TEST_SEALING_KEY, TEST_WEBHOOK_SECRET, uniqueQueuePrefix, type TestDatabase } from '@ictvoip/testkit';
import { startApi, type RunningApi } from '../src';

export interface TestApi {
  api: RunningApi;
  url: string;
  db: TestDatabase;
  prefix: string;
  config: BridgeConfig;
  whitelistFile: string;
  logLines: string[];
  close(): Promise<void>;
}

/** A test API's configuration: its database, queue prefix and a whitelist file of its own; `env` wins. */
export function testApiConfig(db: TestDatabase, prefix: string, env: Record<string, string> = {}, whitelist = '127.0.0.1\n::1\n'): { config: BridgeConfig; whitelistFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-api-'));
  const whitelistFile = join(dir, 'chkcon_whitelist.conf');
  writeFileSync(whitelistFile, whitelist);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    FUSIONPBX_DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    SEALING_KEY: TEST_SEALING_KEY,
    CHKCON_WHITELIST_FILE: whitelistFile,
    ESL_PORT: '1',
    HOST: '127.0.0.1',
    ...env,
  });
  return { config, whitelistFile };
}

/** A real API on a loopback port, with its own database, queue prefix and whitelist file. */
export async function startTestApi(env: Record<string, string> = {}, whitelist = '127.0.0.1\n::1\n'): Promise<TestApi> {
  const db = await createBridgeTestDatabase('api');
  const prefix = uniqueQueuePrefix('api');
  const { config, whitelistFile } = testApiConfig(db, prefix, env, whitelist);
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const api = await startApi(config, logger, { port: 0 });
  return {
    api,
    url: api.url,
    db,
    prefix,
    config,
    whitelistFile,
    logLines,
    close: async () => {
      await api.close();
      await deleteRedisPrefix(prefix);
      await db.drop();
    },
  };
}
