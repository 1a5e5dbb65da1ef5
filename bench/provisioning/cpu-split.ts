import { readdirSync, readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import { cpuSeconds, machineBusySeconds } from '../lib/child';
import { BackendCpuSampler, databaseOf } from '../lib/pg-cpu';
import { round } from '../lib/stats';

/**
 * CPU seconds per process over one phase of the provisioning run (the burst, one at a time, the
 * baseline): the worker and the API (all threads, the bcrypt pool's included), this bench process (the
 * event-socket stand-in, the baseline's own work), PostgreSQL's backends by database and the Redis
 * server. They move much less with the machine's other load than the wall-clock rates do. Redis is the
 * whole server's (other users of the shared server included): read it as an upper bound.
 */
export interface CpuPhase {
  stop(): Promise<CpuSplit>;
}

export type CpuSplit = Record<string, number>;

function redisServerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'redis-server') return Number(entry);
    } catch {
      // a process that ended while listing
    }
  }
  return undefined;
}

const redisPid = redisServerPid();

const benchCpu = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

export async function startCpuPhase(admin: Pool, processes: Record<string, number | undefined>, databases: Record<string, string>): Promise<CpuPhase> {
  const urlOf = new Map(Object.entries(databases).map(([label, url]) => [databaseOf(url), label]));
  const sampler = new BackendCpuSampler(admin, [...urlOf.keys()]);
  await sampler.start();
  const before: Record<string, number | null> = { bench: benchCpu(), redis: cpuSeconds(redisPid), machine: machineBusySeconds() };
  for (const [name, pid] of Object.entries(processes)) before[name] = cpuSeconds(pid);
  return {
    async stop() {
      const split: CpuSplit = {};
      for (const [name, pid] of Object.entries(processes)) split[name] = (cpuSeconds(pid) ?? 0) - (before[name] ?? 0);
      split.bench = benchCpu() - (before.bench ?? 0);
      split.redis = (cpuSeconds(redisPid) ?? 0) - (before.redis ?? 0);
      split.machine = (machineBusySeconds() ?? 0) - (before.machine ?? 0);
      await sampler.stop();
      for (const [database, seconds] of sampler.byDatabase()) split[`pg ${urlOf.get(database) ?? database}`] = seconds;
      return split;
    },
  };
}

/** `worker 41.2 ms, api 3.1 ms, …` per tenant. */
export function perTenant(split: CpuSplit, tenants: number): Record<string, number> {
  return Object.fromEntries(Object.entries(split).map(([name, seconds]) => [name, round((seconds * 1000) / tenants, 1)]));
}

export function describePerTenant(split: CpuSplit, tenants: number): string {
  return Object.entries(perTenant(split, tenants))
    .map(([name, ms]) => `${name} ${ms}`)
    .join(', ');
}
