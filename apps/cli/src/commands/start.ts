import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';

const ROOT = repoRoot(__dirname);
const DATA = path.join(ROOT, '.data');
/** The api/worker entry: compiled (dist/main.js) when this CLI runs compiled, src/main.ts (through tsx) from source. */
const entryOf = (app: 'api' | 'worker') => (__filename.endsWith('.ts') ? `apps/${app}/src/main.ts` : `apps/${app}/dist/main.js`);

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

async function ensureRedis(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  const redisPort = Number(port || 6379);
  if (await reachable(hostname, redisPort)) return;
  if (!isLoopback(hostname) || !has('redis-server')) {
    throw new Error(`Redis is not answering at ${hostname}:${redisPort}. Install redis-server, or run "docker compose up -d redis", or set REDIS_URL.`);
  }
  const dir = path.join(DATA, 'redis');
  mkdirSync(dir, { recursive: true });
  say(`starting a throw-away Redis on ${redisPort} in ${dir}`);
  spawnSync('redis-server', ['--daemonize', 'yes', '--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--logfile', path.join(dir, 'redis.log')], { stdio: 'inherit' });
  await waitUntil(() => reachable(hostname, redisPort), 'Redis');
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

async function ensurePostgres(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  const pgPort = Number(port || 5432);
  if (await reachable(hostname, pgPort)) return;
  const initdb = postgresBinary('initdb');
  const pgCtl = postgresBinary('pg_ctl');
  if (!isLoopback(hostname) || !initdb || !pgCtl) {
    throw new Error(`PostgreSQL is not answering at ${hostname}:${pgPort}. Install PostgreSQL, or run "docker compose up -d postgres", or set DATABASE_URL.`);
  }
  const dir = path.join(DATA, 'postgres');
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]) => spawnSync(asRoot ? 'su' : command, asRoot ? ['postgres', '-c', [command, ...args].map((a) => `'${a}'`).join(' ')] : args, { stdio: 'inherit' });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    say(`initialising a throw-away PostgreSQL cluster in ${dir}`);
    mkdirSync(dir, { recursive: true });
    if (asRoot) spawnSync('chown', ['-R', 'postgres', DATA]);
    run(initdb, ['-D', dir, '-U', 'postgres', '--auth=trust']);
  }
  say(`starting PostgreSQL on ${pgPort}`);
  run(pgCtl, ['-D', dir, '-o', `-p ${pgPort} -k /tmp -c listen_addresses=127.0.0.1`, '-l', path.join(dir, 'server.log'), 'start']);
  await waitUntil(() => reachable(hostname, pgPort), 'PostgreSQL');
}

/** Creates the database named in the URL if it is missing; returns true when it was created. */
async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name "${name}" in the URL must be letters, digits and _`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE ${name}`);
    return true;
  } finally {
    await client.end();
  }
}

async function prepareDemoFusionpbx(config: BridgeConfig): Promise<void> {
  // Only for a laptop with no FusionPBX: the project's FusionPBX fixture plus a template domain, so a
  // signed create converges end to end. Point FUSIONPBX_DATABASE_URL at a real FusionPBX otherwise.
  const testkit = await import('@ictvoip/testkit');
  await testkit.loadFusionpbxSchema(config.fusionpbx.databaseUrl);
  const { Pool } = await import('pg');
  const pool = new Pool({ connectionString: config.fusionpbx.databaseUrl, max: 1 });
  try {
    await testkit.seedFusionpbxBasics(pool, config.fusionpbx.templateDomain);
  } finally {
    await pool.end();
  }
  say(`created a demo FusionPBX database (fixture schema, template domain ${config.fusionpbx.templateDomain})`);
}

function runProcess(name: string, entry: string): ChildProcess {
  const child = spawn(process.execPath, [...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []), entry], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  child.on('exit', (code, signal) => say(`${name} exited (${signal ?? code})`));
  return child;
}

/** `npm start`: API + worker on this machine's defaults, starting local Redis/PostgreSQL if needed. */
export async function startLocal(config: BridgeConfig): Promise<void> {
  await ensureRedis(config.redis.url);
  await ensurePostgres(config.database.url);
  await ensureDatabase(config.database.url);
  if (await ensureDatabase(config.fusionpbx.databaseUrl)) await prepareDemoFusionpbx(config);
  if (!(await reachable(config.esl.host, config.esl.port))) {
    say(`no FreeSWITCH event socket at ${config.esl.host}:${config.esl.port}: jobs will show "pending apply" until it answers (set ESL_HOST/ESL_PORT/ESL_PASSWORD)`);
  }
  const children = [runProcess('api', entryOf('api')), runProcess('worker', entryOf('worker'))];
  say(`api on http://127.0.0.1:${config.http.port}  ·  Bull Board at /admin/queues (basic auth, password = ADMIN_TOKEN)`);
  const stop = (signal: NodeJS.Signals) => children.forEach((child) => child.kill(signal));
  process.once('SIGINT', () => stop('SIGTERM'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))));
}
