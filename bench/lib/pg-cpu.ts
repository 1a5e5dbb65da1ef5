import type { Pool } from 'pg';
import { cpuSeconds } from './child';

/** application_name of a bench's own connections (its polling, its checks): their backends are not the measured side's. */
export const BENCH_OWN_APPLICATION = 'ictvoip-bench';

/**
 * CPU seconds used by the PostgreSQL backends connected to some databases over a stretch of a run:
 * the server's share of a benchmark, apart from whatever else the machine runs (another database's
 * backends, other processes). Backends are listed every `everyMs` (pg_stat_activity), so a
 * connection opened and closed between two samples is missed; one opened during the stretch counts
 * from its start. PostgreSQL's shared processes (WAL writer, checkpointer) are not counted.
 */
export class BackendCpuSampler {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly databaseOfPid = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    private readonly admin: Pool,
    private readonly databases: readonly string[],
    private readonly everyMs = 200,
  ) {}

  /** Takes the starting sample: backends already connected count from here. */
  async start(): Promise<void> {
    await this.sample(true);
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample(false)).catch(() => undefined);
    }, this.everyMs);
  }

  /** Takes the last sample and returns the backends' CPU seconds since start. */
  async stop(): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    await this.sampling;
    await this.sample(false);
    let total = 0;
    for (const [pid, last] of this.last) total += last - (this.first.get(pid) ?? 0);
    return total;
  }

  /** After stop(): the same CPU seconds split by database (which side of a pass: its reads or its writes). */
  byDatabase(): Map<string, number> {
    const split = new Map<string, number>();
    for (const [pid, last] of this.last) {
      const database = this.databaseOfPid.get(pid) ?? '?';
      split.set(database, (split.get(database) ?? 0) + last - (this.first.get(pid) ?? 0));
    }
    return split;
  }

  private async sample(starting: boolean): Promise<void> {
    const { rows } = await this.admin.query<{ pid: number; datname: string }>(
      'SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM $2',
      [this.databases, BENCH_OWN_APPLICATION],
    );
    for (const { pid, datname } of rows) {
      const cpu = cpuSeconds(pid);
      if (cpu === null) continue;
      this.databaseOfPid.set(pid, datname);
      if (starting) this.first.set(pid, cpu);
      this.last.set(pid, cpu);
    }
  }
}

/** The database name of a postgres:// URL. */
export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}
