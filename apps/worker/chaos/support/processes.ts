import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');

import { freePort } from '@ictvoip/testkit';

export { freePort };

export async function waitUntil<T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * A wait's bound stretched by how loaded the box is now: × (1-minute load per core ÷ 4), between 1
 * and 8. The suite shares 2 cores with other test runs; at load 100 a worker's start or a create took
 * minutes although nothing was wrong, while a quiet box keeps the plain bound (a real hang still fails).
 */
export function loadAware(ms: number): number {
  const perCore = loadavg()[0]! / Math.max(1, cpus().length);
  return Math.round(ms * Math.min(8, Math.max(1, perCore / 4)));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export type AppKind = 'api' | 'worker';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One real `apps/api` or `apps/worker` process (`node --import tsx apps/<kind>/src/main.ts`, or its build: see appEntry).
 * Every line it prints is kept (the suite checks them for secrets), nothing else is read from them.
 */
export class AppProcess {
  readonly lines: string[];
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null = null;
  /** Set when the suite itself stops the process; any other exit is reported with its last lines. */
  private stopping = false;
  private partial = '';

  constructor(
    readonly kind: AppKind,
    readonly child: ChildProcess,
    sink: string[],
    readonly port: number | null,
  ) {
    this.lines = sink;
    const collect = (chunk: Buffer) => {
      const text = this.partial + chunk.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) if (line) sink.push(line);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.partial) sink.push(this.partial);
        this.exit = { code, signal };
        if (!this.stopping) process.stderr.write(`${kind} process ${child.pid} exited on its own (${JSON.stringify(this.exit)}); last lines:\n${sink.slice(-30).join('\n')}\n`);
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** kill -9: no chance to clean up. */
  async kill9(): Promise<ExitInfo> {
    this.stopping = true;
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM and wait (SIGKILL after `hardMs` so the suite never hangs on a stuck process). */
  async terminate(hardMs = 30000): Promise<ExitInfo> {
    this.stopping = true;
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), hardMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }
}

/** How long a process may take to start (CHAOS_START_TIMEOUT_MS, stretched by the load): tsx compiles the sources first, slow on a loaded box. */
const START_TIMEOUT_MS = Number(process.env.CHAOS_START_TIMEOUT_MS ?? 30000);

/** The compiled app (`npm run build`) when ICTVOIP_FROM_SOURCE=0, as CI sets after its build; else its sources through tsx. */
function appEntry(kind: AppKind): string[] {
  return process.env.ICTVOIP_FROM_SOURCE === '0' ? [`apps/${kind}/dist/main.js`] : ['--import', 'tsx', `apps/${kind}/src/main.ts`];
}

/** Starts one app process with `env` and waits until it is up (API: /healthz; worker: its start-up log line). */
export async function spawnApp(kind: AppKind, env: Record<string, string>, sink: string[], timeoutMs = loadAware(START_TIMEOUT_MS)): Promise<AppProcess> {
  const port = kind === 'api' ? await freePort() : null;
  const child = spawn(process.execPath, appEntry(kind), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env, ...(port ? { PORT: String(port) } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const app = new AppProcess(kind, child, sink, port);
  const started = sink.length;
  try {
    await waitUntil(
      async () => {
        if (!app.running) throw new Error(`${kind} exited during start-up: ${JSON.stringify(app.exit)} ${sink.slice(started).join('\n').slice(-2000)}`);
        if (kind === 'worker') return sink.slice(started).some((line) => line.includes('worker started'));
        const reply = await fetch(`${app.url}/healthz`).catch(() => null);
        return reply?.ok ?? false;
      },
      timeoutMs,
      `${kind} process start-up`,
    );
  } catch (error) {
    await app.kill9();
    throw error;
  }
  return app;
}

/** Inodes of the TCP sockets whose local port is `port` (IPv4 and IPv6 tables of this network namespace). */
function socketInodesOnLocalPort(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = parseInt(fields[1].split(':').pop() ?? '', 16);
      if (localPort === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * Which of `candidates` holds the client side of the TCP connection whose local port is `port`
 * (Linux /proc): the process that sent a command the event-socket stand-in is holding.
 */
export function processOwningPort(port: number, candidates: readonly AppProcess[]): AppProcess | null {
  const inodes = socketInodesOnLocalPort(port);
  if (inodes.size === 0) return null;
  for (const candidate of candidates) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${candidate.pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${candidate.pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) return candidate;
    }
  }
  return null;
}
