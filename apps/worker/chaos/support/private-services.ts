import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { freePort, sleep, waitUntil } from './processes';

/**
 * A redis-server of our own on a spare port, so the suite can kill, restart and FLUSHALL it
 * without touching the shared Redis other tests use. No persistence: a restart loses everything.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], {
      stdio: 'ignore',
    });
    this.child = child;
    await waitUntil(() => this.ping(), 10000, `redis-server on ${this.port}`);
  }

  async ping(): Promise<boolean> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  /** kill -9 of the server: every connection drops, every key is gone. */
  async down(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(downForMs = 1000): Promise<void> {
    await this.down();
    await sleep(downForMs);
    await this.up();
  }

  async flushAll(): Promise<void> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 });
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.down();
  }
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

function asPostgres(command: string): string {
  // We run as root; PostgreSQL refuses to, so its tools run as the postgres user.
  return execFileSync('su', ['postgres', '-c', command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A PostgreSQL cluster of our own (initdb in a temp dir, trust auth, spare port) that can be
 * restarted mid-run with pg_ctl without disturbing the shared server.
 */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'ictvoip-chaos-pg-'));
    chmodSync(dir, 0o755);
    chownSync(dir, uid('postgres'), gid('postgres'));
    const pg = new PrivatePostgres(await freePort(), dir);
    asPostgres(`${PG_BIN}/initdb -D ${dir}/data -A trust -U postgres --no-sync >/dev/null`);
    await pg.up();
    return pg;
  }

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlOf(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async up(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`;
    asPostgres(`${PG_BIN}/pg_ctl -D ${this.dir}/data -o "${options}" -l ${this.dir}/log -w -t 30 start >/dev/null`);
    await waitUntil(() => this.ping(), 20000, `private PostgreSQL on ${this.port}`);
  }

  /** Fast shutdown: every session is terminated (57P01), like a machine's `systemctl restart`. */
  async down(): Promise<void> {
    asPostgres(`${PG_BIN}/pg_ctl -D ${this.dir}/data -m fast -w -t 30 stop >/dev/null`);
  }

  async restart(downForMs = 2000): Promise<void> {
    await this.down();
    await sleep(downForMs);
    await this.up();
  }

  async ping(): Promise<boolean> {
    const client = new Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    await this.down().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}
