import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { EXIT_CONFIG, watchLauncher, type BridgeConfig } from '@ictvoip/config';
import { createDemoFusionpbx } from '@ictvoip/fusionpbx';
import { bridgeApplicationName, DEFAULT_FUSION_SERVER } from '@ictvoip/store';

const ROOT = repoRoot(__dirname);
/** Where the throw-away Redis and PostgreSQL live unless --data-dir says otherwise. */
export const DEFAULT_DATA_DIR = path.join(ROOT, '.data');
/** The api/worker entry: compiled (dist/main.js) when this CLI runs compiled, src/main.ts (through tsx) from source. */
const entryOf = (app: 'api' | 'worker') => (__filename.endsWith('.ts') ? `apps/${app}/src/main.ts` : `apps/${app}/dist/main.js`);

/**
 * The worker's V8 old-generation cap (MiB), as `npm run start:worker` and docker-compose pass it. Without
 * it V8 lets garbage pile up: the CDR sync's worker grew from ~95 to 176–225 MiB RSS although its live
 * heap stays near 40 MiB (README "Memory"). NODE_OPTIONS with its own --max-old-space-size wins.
 */
export const WORKER_OLD_SPACE_MIB = 96;

/** Node flags for an app's process: the worker's heap cap unless the operator set one in NODE_OPTIONS. */
export function nodeFlagsOf(app: 'api' | 'worker', nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  if (app !== 'worker' || /--max-old-space-size/.test(nodeOptions)) return [];
  return [`--max-old-space-size=${WORKER_OLD_SPACE_MIB}`];
}

/** The nearest folder up from `dir` whose package.json is the repository's (the same from src/ and dist/). */
function repoRoot(dir: string): string {
  for (let at = dir; ; at = path.dirname(at)) {
    const file = path.join(at, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'ictvoip-bridge') return at;
    if (path.dirname(at) === at) return path.resolve(dir, '../../../..');
  }
}

function say(message: string): void {
  process.stdout.write(`[start] ${message}\n`);
}

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Where the API is reached from this machine: its HOST, or loopback when it listens on every address. */
function localApiUrl(config: BridgeConfig): string {
  const host = config.http.host === null || config.http.host === '::' || config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
}

/** Says where the API answers once /healthz does: not before, when it may yet fail to listen. */
async function announceApi(config: BridgeConfig, stopped: () => boolean): Promise<void> {
  const url = localApiUrl(config);
  while (!stopped()) {
    const answered = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
      (reply) => reply.ok,
      () => false,
    );
    if (answered) return say(`api on ${url}  ·  Bull Board at /admin/queues (basic auth, password = ADMIN_TOKEN)`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

function isLoopback(host: string): boolean {
  return ['127.0.0.1', 'localhost', '::1'].includes(host);
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Something `npm start` launched itself (a throw-away Redis or PostgreSQL): stopped when it stops. */
interface Owned {
  what: string;
  stop(): Promise<void>;
}

/** Waits for a child's exit, sending SIGKILL when it has not exited within `graceMs`. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

async function ensureRedis(url: string, data: string): Promise<Owned | null> {
  const { hostname, port } = new URL(url);
  const redisPort = Number(port || 6379);
  if (await reachable(hostname, redisPort)) return null;
  if (!isLoopback(hostname) || !has('redis-server')) {
    throw new Error(`Redis is not answering at ${hostname}:${redisPort}. Install redis-server, or run "docker compose up -d redis", or set REDIS_URL.`);
  }
  const dir = path.join(data, 'redis');
  mkdirSync(dir, { recursive: true });
  say(`starting a throw-away Redis on ${redisPort} in ${dir}`);
  // A child of this process (not daemonized) in its own process group: a Ctrl-C in the terminal
  // reaches the api and worker first, and Redis is stopped after them.
  const log = openSync(path.join(dir, 'redis.log'), 'a');
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], {
    stdio: ['ignore', log, log],
    detached: true,
  });
  const owned: Owned = { what: `Redis on ${redisPort}`, stop: () => stopChild(redis, 'SIGTERM', 5000) };
  const exited = new Promise<void>((resolve) => redis.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitUntil(() => reachable(hostname, redisPort), 'Redis'),
      exited.then(() => {
        throw new Error(`redis-server exited at start; see ${path.join(dir, 'redis.log')}`);
      }),
    ]);
  } catch (error) {
    await owned.stop();
    throw error;
  }
  return owned;
}

function postgresBinary(name: string): string | null {
  if (has(name)) return name;
  const versions = existsSync('/usr/lib/postgresql') ? spawnSync('ls', ['/usr/lib/postgresql']).stdout.toString().trim().split('\n') : [];
  for (const version of versions.reverse()) {
    const candidate = `/usr/lib/postgresql/${version}/bin/${name}`;
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

async function ensurePostgres(url: string, data: string): Promise<Owned | null> {
  const { hostname, port } = new URL(url);
  const pgPort = Number(port || 5432);
  if (await reachable(hostname, pgPort)) return null;
  const initdb = postgresBinary('initdb');
  const pgCtl = postgresBinary('pg_ctl');
  if (!isLoopback(hostname) || !initdb || !pgCtl) {
    throw new Error(`PostgreSQL is not answering at ${hostname}:${pgPort}. Install PostgreSQL, or run "docker compose up -d postgres", or set DATABASE_URL.`);
  }
  const dir = path.join(data, 'postgres');
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]) =>
    spawnSync(asRoot ? 'su' : command, asRoot ? ['postgres', '-c', [command, ...args].map((a) => `'${a}'`).join(' ')] : args, { stdio: 'inherit' });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    say(`initialising a throw-away PostgreSQL cluster in ${dir}`);
    mkdirSync(dir, { recursive: true });
    if (asRoot) spawnSync('chown', ['-R', 'postgres', data]);
    run(initdb, ['-D', dir, '-U', 'postgres', '--auth=trust']);
  }
  say(`starting PostgreSQL on ${pgPort}`);
  run(pgCtl, ['-D', dir, '-o', `-p ${pgPort} -k /tmp -c listen_addresses=127.0.0.1`, '-l', path.join(dir, 'server.log'), 'start']);
  const owned: Owned = {
    what: `PostgreSQL on ${pgPort}`,
    stop: async () => {
      run(pgCtl, ['-D', dir, '-m', 'fast', '-w', 'stop']);
    },
  };
  try {
    await waitUntil(() => reachable(hostname, pgPort), 'PostgreSQL');
  } catch (error) {
    await owned.stop();
    throw error;
  }
  return owned;
}

interface DatabaseName {
  name: string;
  host: string;
  port: string;
  user: string;
}

function databaseName(url: string, variable: string): DatabaseName {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`${variable}: database name "${name}" must be letters, digits and _`);
  return { name, host: target.hostname, port: target.port || '5432', user: decodeURIComponent(target.username) || 'postgres' };
}

async function withAdmin<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), fallback_application_name: bridgeApplicationName('cli') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function databaseExists(url: string, variable: string): Promise<boolean> {
  const { name } = databaseName(url, variable);
  return withAdmin(url, async (client) => Boolean((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount));
}

/** Creates the database named in the URL if it is missing; returns true when it was created. */
async function ensureDatabase(url: string, variable: string): Promise<boolean> {
  const { name } = databaseName(url, variable);
  return withAdmin(url, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE ${name}`);
    return true;
  });
}

function dropCommand(url: string, variable: string): string {
  const { name, host, port, user } = databaseName(url, variable);
  return `dropdb -h ${host} -p ${port} -U ${user} ${name}`;
}

/** FUSIONPBX_DATABASE_URL's default: the only URL whose missing database becomes a demo unasked. */
export const DEFAULT_FUSIONPBX_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/fusionpbx';

/** The default URL, with `localhost` or `::1` for the loopback host. */
function isDefaultLoopbackUrl(url: string): boolean {
  const given = new URL(url);
  const expected = new URL(DEFAULT_FUSIONPBX_DATABASE_URL);
  return (
    isLoopback(given.hostname.replace(/^\[|\]$/g, '')) &&
    given.protocol.replace('postgresql:', 'postgres:') === expected.protocol &&
    (given.port || '5432') === expected.port &&
    decodeURIComponent(given.username) === expected.username &&
    given.password === '' &&
    given.pathname === expected.pathname &&
    given.search === ''
  );
}

/**
 * Whether a missing FusionPBX database may be created as the demo: asked for (`--demo`), or the
 * default URL on this machine outside production. Anything else is most likely a typo in the URL,
 * and start-up must stop rather than provision tenants into a database FusionPBX never reads.
 */
export function demoAllowed(config: BridgeConfig, demo: boolean): boolean {
  return demo || (config.nodeEnv !== 'production' && isDefaultLoopbackUrl(config.fusionpbx.databaseUrl));
}

export interface StartOptions {
  /** Create the demo FusionPBX database when FUSIONPBX_DATABASE_URL names one that does not exist. */
  demo?: boolean;
  /** Folder of the throw-away Redis and PostgreSQL (default: .data in the repository). */
  dataDir?: string;
  /** A child that crashes this many times in a row, each within RESTART_STABLE_MS of its start, stops `start`. */
  maxRestarts?: number;
}

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A child that ran this long before it exited counts as having started: its backoff starts over. */
const RESTART_STABLE_MS = 60_000;
export const DEFAULT_MAX_RESTARTS = 5;

/** One supervised app process (api or worker): restarted with a backoff when it exits unasked. */
class Supervised {
  private child: ChildProcess | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private quickCrashes = 0;
  private backoffMs = FIRST_BACKOFF_MS;
  private stopping = false;

  constructor(
    private readonly name: string,
    private readonly entry: string,
    private readonly nodeFlags: readonly string[],
    private readonly maxRestarts: number,
    private readonly giveUp: (reason: string) => void,
  ) {}

  start(): void {
    const startedAt = Date.now();
    const child = spawn(process.execPath, [...this.nodeFlags, ...(this.entry.endsWith('.ts') ? ['--import', 'tsx'] : []), this.entry], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: process.env,
    });
    this.child = child;
    child.once('exit', (code, signal) => {
      this.child = null;
      const how = signal ?? `code ${code}`;
      if (this.stopping) return say(`${this.name} stopped (${how})`);
      if (code === EXIT_CONFIG) return this.giveUp(`${this.name} refused its configuration (exit ${EXIT_CONFIG})`);
      if (Date.now() - startedAt >= RESTART_STABLE_MS) {
        this.quickCrashes = 0;
        this.backoffMs = FIRST_BACKOFF_MS;
      }
      this.quickCrashes += 1;
      if (this.quickCrashes > this.maxRestarts) {
        return this.giveUp(`${this.name} exited (${how}) ${this.quickCrashes} times in a row, each within ${RESTART_STABLE_MS / 1000} s of its start`);
      }
      say(`${this.name} exited (${how}); restarting it in ${this.backoffMs / 1000} s (${this.quickCrashes} of ${this.maxRestarts} quick restarts)`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopping) this.start();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    });
  }

  /** SIGTERM, then SIGKILL when the process is still there after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.child) await stopChild(this.child, 'SIGTERM', graceMs);
  }

  kill(): void {
    this.child?.kill('SIGKILL');
  }
}

/** `npm start`: API + worker on this machine's defaults, starting local Redis/PostgreSQL if needed. */
export async function startLocal(config: BridgeConfig, options: StartOptions = {}): Promise<number> {
  const data = path.resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const owned: Owned[] = [];
  const stopOwned = async () => {
    for (const item of owned.reverse()) {
      say(`stopping the ${item.what} it started`);
      await item.stop().catch((error: Error) => say(`could not stop the ${item.what}: ${error.message}`));
    }
  };
  const created: string[] = [];
  // A signal while Redis/PostgreSQL are being started or the databases created: stop once that step is done.
  let earlySignal: NodeJS.Signals | null = null;
  const early = (signal: NodeJS.Signals) => {
    earlySignal = signal;
  };
  (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).forEach((signal) => process.on(signal, early));
  const stopWatch = watchLauncher(() => early('SIGTERM'));
  try {
    const redis = await ensureRedis(config.redis.url, data);
    if (redis) owned.push(redis);
    const postgres = await ensurePostgres(config.database.url, data);
    if (postgres) owned.push(postgres);
    // Decided before anything is created: a FUSIONPBX_DATABASE_URL naming a missing database stops here.
    const fusion = databaseName(config.fusionpbx.databaseUrl, 'FUSIONPBX_DATABASE_URL');
    const fusionMissing = !(await databaseExists(config.fusionpbx.databaseUrl, 'FUSIONPBX_DATABASE_URL'));
    if (fusionMissing && !demoAllowed(config, options.demo ?? false)) {
      throw new Error(
        `FUSIONPBX_DATABASE_URL names the database "${fusion.name}" on ${fusion.host}:${fusion.port}, which does not exist. ` +
          "Point FUSIONPBX_DATABASE_URL at FusionPBX's database (check the name for a typo), " +
          'or run "npm start -- --demo" (ictvoip start --demo) to create a demo FusionPBX database under that name. Nothing was created.',
      );
    }
    if (await ensureDatabase(config.database.url, 'DATABASE_URL')) {
      const { name } = databaseName(config.database.url, 'DATABASE_URL');
      created.push(dropCommand(config.database.url, 'DATABASE_URL'));
      say(`created the bridge database "${name}" (DATABASE_URL)`);
    }
    if (fusionMissing && (await ensureDatabase(config.fusionpbx.databaseUrl, 'FUSIONPBX_DATABASE_URL'))) {
      created.push(dropCommand(config.fusionpbx.databaseUrl, 'FUSIONPBX_DATABASE_URL'));
      // Only for a laptop with no FusionPBX: the project's FusionPBX fixture plus a template domain, so a
      // signed create converges end to end. Point FUSIONPBX_DATABASE_URL at a real FusionPBX otherwise.
      // Set up as the default server (FUSIONPBX_DATABASE_URL): its connections show as `ictvoip-cli fs:default`.
      await createDemoFusionpbx(config.fusionpbx.databaseUrl, config.fusionpbx.templateDomain, {
        applicationName: bridgeApplicationName('cli', DEFAULT_FUSION_SERVER),
      }).catch(async (error: Error) => {
        // A half-seeded demo would be taken for a FusionPBX on the next start: it goes again.
        await withAdmin(config.fusionpbx.databaseUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${fusion.name} WITH (FORCE)`)).catch(() => undefined);
        throw new Error(`creating the demo FusionPBX database "${fusion.name}" failed: ${error.message}`);
      });
      say(`created a DEMO FusionPBX database "${fusion.name}" (FUSIONPBX_DATABASE_URL; fixture schema, template domain ${config.fusionpbx.templateDomain})`);
    }
    if (created.length) say(`to remove what it created, stop it and run: ${created.join(' && ')}`);
    if (owned.length) say(`the throw-away ${owned.map((item) => item.what).join(' and ')} in ${data} stop when this command stops; remove them afterwards with: rm -rf ${data}`);
    if (!(await reachable(config.esl.host, config.esl.port))) {
      say(`no FreeSWITCH event socket at ${config.esl.host}:${config.esl.port}: jobs will show "pending apply" until it answers (set ESL_HOST/ESL_PORT/ESL_PASSWORD)`);
    }
  } catch (error) {
    await stopOwned();
    throw error;
  } finally {
    (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).forEach((signal) => process.off(signal, early));
    stopWatch();
  }
  if (earlySignal) {
    say(`${earlySignal} during start-up: stopping`);
    await stopOwned();
    return 0;
  }

  let exitCode = 0;
  let stopping: Promise<void> | null = null;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const maxRestarts = options.maxRestarts ?? DEFAULT_MAX_RESTARTS;
  const giveUp = (reason: string) => {
    say(`${reason}: stopping (a process that keeps failing is not left half running; see its log above)`);
    exitCode = 1;
    void stop();
  };
  const children = [
    new Supervised('api', entryOf('api'), nodeFlagsOf('api'), maxRestarts, giveUp),
    new Supervised('worker', entryOf('worker'), nodeFlagsOf('worker'), maxRestarts, giveUp),
  ];
  // The apps end their own shutdown within SHUTDOWN_DEADLINE_MS; a child still there a moment later is killed.
  const graceMs = config.worker.shutdownDeadlineMs + 1000;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(children.map((child) => child.stop(graceMs)));
      await stopOwned();
    })().then(stopped);
    return stopping;
  };
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A Ctrl-C reaches npm, the bin wrapper and this process at once, and both pass it on: the
      // same signal twice within a moment is one. A second Ctrl-C later does not wait any more.
      if (Date.now() - firstSignalAt < 2000) return;
      say(`${signal} again: killing the api and worker`);
      children.forEach((child) => child.kill());
      return;
    }
    firstSignalAt = Date.now();
    say(`${signal}: stopping the api and worker (up to ${graceMs / 1000} s)`);
    void stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // The bin wrapper killed outright (SIGKILL) leaves this process re-parented: stop as on SIGTERM.
  watchLauncher(() => onSignal('SIGTERM'));
  children.forEach((child) => child.start());
  void announceApi(config, () => stopping !== null);
  await done;
  return exitCode;
}
