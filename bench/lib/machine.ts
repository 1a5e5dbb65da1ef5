import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { Client } from 'pg';
import Redis from 'ioredis';
import { TEST_PG_ADMIN_URL, TEST_REDIS_URL } from '@ictvoip/testkit';

export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  postgresql: string;
  redis: string;
  gitCommit: string;
  /** Uncommitted changes in the tree when the run started: such figures are not the commit's. */
  dirty: boolean;
  /** 1/5/15-minute load average when the run started: other work on a shared machine skews every figure. */
  loadAverage: number[];
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function treeDirty(): boolean {
  try {
    return execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return true;
  }
}

async function postgresVersion(): Promise<string> {
  const client = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0].server_version;
  } finally {
    await client.end();
  }
}

async function redisVersion(): Promise<string> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

export async function describeMachine(): Promise<MachineDescription> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgresql: await postgresVersion(),
    redis: await redisVersion(),
    gitCommit: gitCommit(),
    dirty: treeDirty(),
    loadAverage: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}
