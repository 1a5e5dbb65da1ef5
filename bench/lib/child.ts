import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';

/** Repository root: children run from here so `--import tsx` and the workspace packages resolve. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export class ChildProcessError extends Error {
  readonly code = 'BENCH_CHILD_FAILED';
  constructor(name: string, message: string, tail: string) {
    super(`${name}: ${message}${tail ? `\n--- last output ---\n${tail}` : ''}`);
    this.name = 'ChildProcessError';
  }
}

/** A free loopback port (the tiny race between close and the child's listen is acceptable here). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

class OutputTail {
  private text = '';
  constructor(private readonly limit = 8000) {}
  push(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-this.limit);
  }
  toString(): string {
    return this.text;
  }
}

/** Peak resident set size of a live process (Linux VmHWM), in MiB; null elsewhere. */
export function peakRssMiB(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Linux reports /proc times in USER_HZ, 100 per second on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat; null
 * when it cannot be read. Unlike wall-clock figures it hardly moves with the machine's load.
 */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing ')'; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * CPU seconds the whole machine has been busy so far (every core: user, nice, system, irq, softirq,
 * steal; not idle or iowait), from /proc/stat; null off Linux. Over a run on an otherwise quiet box,
 * the busy time per item tells a CPU-bound run (every process's share, PostgreSQL's included) from one
 * that waits.
 */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return [user, nice, system, irq, softirq, steal].reduce<number>((sum, value) => sum + (value ?? 0), 0) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

export interface RunningService {
  name: string;
  child: ChildProcess;
  url: string;
  output(): string;
  peakRssMiB(): number | null;
  stop(): Promise<void>;
}

/** The compiled file of an app's entry point (apps/<app>/src/x.ts → apps/<app>/dist/x.js), as production runs it. */
export function compiledEntry(script: string): string | null {
  const match = /^apps\/([a-z-]+)\/src\/(.+)\.ts$/.exec(script);
  return match ? path.join('apps', match[1], 'dist', `${match[2]}.js`) : null;
}

/** Sends a tsx script's `@ictvoip/*` imports to the compiled build (see the file); loaded after tsx. */
export const PREFER_DIST = path.join(REPO_ROOT, 'bench', 'lib', 'prefer-dist.cjs');

/**
 * The bridge's own processes run compiled (bench/run.ts builds first), like `npm start`; bench-only
 * scripts (baselines, children) run through tsx, the bridge code they import compiled too.
 */
function nodeArgs(script: string, extra: readonly string[]): string[] {
  const compiled = compiledEntry(script);
  if (compiled) {
    if (!existsSync(path.resolve(REPO_ROOT, compiled))) throw new ChildProcessError(script, `${compiled} is missing: run npm run build first`, '');
    return [...extra, path.resolve(REPO_ROOT, compiled)];
  }
  return ['--import', 'tsx', '--import', PREFER_DIST, ...extra, path.resolve(REPO_ROOT, script)];
}

async function waitHealthy(url: string, child: ChildProcess, name: string, tail: OutputTail, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new ChildProcessError(name, `exited with ${child.exitCode} before it was healthy`, tail.toString());
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new ChildProcessError(name, `not healthy at ${url} within ${timeoutMs} ms`, tail.toString());
}

async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ServiceOptions {
  name: string;
  script: string;
  env: Record<string, string>;
  /** URL polled until it answers 2xx; omit for a process without HTTP (then `readyLine` is awaited). */
  healthUrl?: string;
  /** A substring of stdout/stderr that means "ready". */
  readyLine?: string;
  nodeOptions?: string[];
  timeoutMs?: number;
}

async function waitForLine(child: ChildProcess, name: string, tail: OutputTail, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (tail.toString().includes(line)) return;
    if (child.exitCode !== null) throw new ChildProcessError(name, `exited with ${child.exitCode} before "${line}"`, tail.toString());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new ChildProcessError(name, `no "${line}" within ${timeoutMs} ms`, tail.toString());
}

/** Starts a long-running child (API, worker, baseline server) and waits until it is ready. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const tail = new OutputTail();
  const child = spawn(process.execPath, nodeArgs(options.script, options.nodeOptions ?? []), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    if (options.healthUrl) await waitHealthy(options.healthUrl, child, options.name, tail, timeoutMs);
    if (options.readyLine) await waitForLine(child, options.name, tail, options.readyLine, timeoutMs);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    name: options.name,
    child,
    url: options.healthUrl ? new URL(options.healthUrl).origin : '',
    output: () => tail.toString(),
    peakRssMiB: () => peakRssMiB(child.pid),
    stop: () => stopChild(child),
  };
}

/** Runs a one-shot child that prints one JSON object as its last stdout line; returns it. */
export async function runJsonChild<T>(name: string, script: string, env: Record<string, string>, nodeOptions: string[] = []): Promise<T> {
  const tail = new OutputTail(200_000);
  const child = spawn(process.execPath, nodeArgs(script, nodeOptions), { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const errors = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  if (code !== 0) throw new ChildProcessError(name, `exited with ${code}`, `${tail.toString().slice(-4000)}\n${errors.toString()}`);
  const lines = tail.toString().trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    throw new ChildProcessError(name, 'did not print a JSON result line', tail.toString().slice(-4000));
  }
}
