import { constants as fsConstants, readFileSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import {
  DEFAULT_FUSION_SERVER as DEFAULT_SERVER_NAME,
  FusionServerConflictError,
  FusionServerInputError,
  FusionServerInUseError,
  FusionServersRepository,
  FUSION_CACHE_METHODS,
  assertBridgeDatabaseMigrated,
  fusionCacheInEffect,
  localFileCacheWarning,
  redactDatabaseUrl,
  type FusionCacheInEffect,
  type FusionCacheMethod,
  type FusionServerCacheFields,
  type FusionServerSummary,
} from '@ictvoip/store';
import type { BridgeConfig } from '@ictvoip/config';
import { action, CliError, config, emit, positiveInt, type JsonOption } from '../output';
import { cliFusionPool, cliPool } from '../pool';

/** The registry's fields that the commands set with a flag of another name: a refusal names the flag. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = { cacheMethod: '--cache-method', cacheDir: '--cache-dir' };

async function withRegistry<T>(work: (registry: FusionServersRepository) => Promise<T>): Promise<T> {
  const cfg = config();
  const pool = cliPool(cfg.database.url, { max: 2 });
  try {
    await assertBridgeDatabaseMigrated(pool);
    // FUSIONPBX_CACHE_METHOD=file: a server added or changed without a cache method of its own is refused (it would never be cleared).
    return await work(new FusionServersRepository(pool, cfg.sealing, { bridgeCacheMethod: cfg.fusionpbx.cacheMethod }));
  } catch (error) {
    if (error instanceof FusionServerInputError && FLAG_OF_FIELD[error.field])
      throw new CliError(error.code, `${FLAG_OF_FIELD[error.field]}: ${error.message.slice(error.field.length + 2)}`);
    if (error instanceof FusionServerInputError || error instanceof FusionServerConflictError || error instanceof FusionServerInUseError)
      throw new CliError(error.code, error.message);
    throw error;
  } finally {
    await pool.end();
  }
}

/** The cache in effect for a server (null: the default one), by the bridge's configuration. */
function cacheInEffect(server: FusionServerCacheFields | null, cfg: BridgeConfig): FusionCacheInEffect {
  return fusionCacheInEffect(server, { method: cfg.fusionpbx.cacheMethod, dir: cfg.fusionpbx.cacheDir });
}

function cacheText(cache: FusionCacheInEffect): string {
  return `cache ${cache.method}${cache.dir !== null ? ` ${cache.dir}` : ''}${cache.source === 'server' ? '' : ' (FUSIONPBX_CACHE_METHOD)'}`;
}

/** The warning for a registered server whose cache the bridge cannot clear (it follows a bridge-wide `file`), else null. */
function cacheWarning(name: string, server: FusionServerCacheFields, cfg: BridgeConfig): string | null {
  return localFileCacheWarning(name, server, cfg.fusionpbx.cacheMethod, 'cli');
}

function line(server: FusionServerSummary, cfg: BridgeConfig): string {
  const whmcs =
    [server.whmcsServerId !== null ? `whmcs id ${server.whmcsServerId}` : null, server.whmcsHostname ? `whmcs host ${server.whmcsHostname}` : null].filter(Boolean).join(', ') ||
    'no WHMCS mapping';
  const warning = cacheWarning(server.name, server, cfg) ? ' NOT CLEARED' : '';
  return `${server.name}\t${server.enabled ? 'enabled' : 'disabled'}\t${whmcs}\tdb ${server.database}\tesl ${server.eslHost}:${server.eslPort}\t${server.boundServices} service(s)\t${cacheText(cacheInEffect(server, cfg))}${warning}`;
}

/** A server as `list` and `add`/`update` --json show it: as stored (cacheMethod null follows the bridge-wide one), with the cache in effect. */
function shown(server: FusionServerSummary, cfg: BridgeConfig): FusionServerSummary & { cache: FusionCacheInEffect; warning?: string } {
  const warning = cacheWarning(server.name, server, cfg);
  return { ...server, cache: cacheInEffect(server, cfg), ...(warning ? { warning } : {}) };
}

function cacheMethodOption(value: string): FusionCacheMethod {
  if (!(FUSION_CACHE_METHODS as readonly string[]).includes(value)) throw new InvalidArgumentError(`--cache-method must be one of ${FUSION_CACHE_METHODS.join(', ')}`);
  return value as FusionCacheMethod;
}

function eslPort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new InvalidArgumentError('--esl-port must be an integer from 1 to 65535');
  return Number(value);
}

/** An optional secret for `update`: at most one source; undefined keeps the stored one. */
function optionalSecretFrom(label: string, flag: string | undefined, envName: string | undefined, stdin: boolean): string | undefined {
  if (flag === undefined && envName === undefined && !stdin) return undefined;
  return secretFrom(label, flag, envName, stdin);
}

/** A secret from exactly one of: the flag, a named environment variable, or standard input. */
function secretFrom(label: string, flag: string | undefined, envName: string | undefined, stdin: boolean): string {
  const given = [flag !== undefined, envName !== undefined, stdin].filter(Boolean).length;
  if (given !== 1) throw new CliError('INVALID_ARGUMENT', `give the ${label} once: --${label} <value>, --${label}-env <VAR> or --${label}-stdin`);
  if (flag !== undefined) return flag;
  if (envName !== undefined) {
    const value = process.env[envName];
    if (value === undefined || value === '') throw new CliError('INVALID_ARGUMENT', `--${label}-env: environment variable ${envName} is not set`);
    return value;
  }
  // The first line of standard input (a pipe or a here-string): never in the shell history.
  return readFileSync(0, 'utf8').split(/\r?\n/)[0] ?? '';
}

interface AddOptions extends JsonOption {
  databaseUrl?: string;
  databaseUrlEnv?: string;
  databaseUrlStdin?: boolean;
  eslHost: string;
  eslPort: number;
  eslPassword?: string;
  eslPasswordEnv?: string;
  eslPasswordStdin?: boolean;
  whmcsServerId?: number;
  whmcsHostname?: string;
  disabled?: boolean;
  cacheMethod?: FusionCacheMethod;
  cacheDir?: string;
}

interface Check {
  name: string;
  ok: boolean;
  latencyMs: number;
  detail: string;
}

async function check(name: string, work: () => Promise<string>): Promise<Check> {
  const started = Date.now();
  try {
    const detail = await work();
    return { name, ok: true, latencyMs: Date.now() - started, detail };
  } catch (error) {
    return { name, ok: false, latencyMs: Date.now() - started, detail: error instanceof Error ? error.message : String(error) };
  }
}

/** The `file` method unlinks files there: the directory must be one the bridge can write to. */
async function cacheDirectoryCheck(dir: string): Promise<string> {
  if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
  await access(dir, fsConstants.W_OK);
  return `${dir} is a directory the bridge can unlink in`;
}

/** Connects to a server's database and event socket with short limits and reports each (and its cache directory, with the file method). */
async function testServer(
  name: string,
  connection: { databaseUrl: string; eslHost: string; eslPort: number; eslPassword: string },
  cache: FusionCacheInEffect | null,
): Promise<Check[]> {
  const database = check('database', async () => {
    const pool = cliFusionPool({ server: name, url: connection.databaseUrl }, { max: 1, connectionTimeoutMillis: 5000 });
    try {
      const { fusionpbxReadiness, missingTemplateDomain } = await import('@ictvoip/fusionpbx');
      const { templateDomain } = config().fusionpbx;
      const { domains, hasTemplateDomain } = await fusionpbxReadiness(pool, templateDomain);
      if (!hasTemplateDomain) throw missingTemplateDomain(templateDomain);
      return `${domains} domains, the template domain among them`;
    } finally {
      await pool.end();
    }
  });
  const eventSocket = check('event socket', async () => {
    // Loaded here only: the FreeSWITCH package would slow every other command's start.
    const { EslClient } = await import('@ictvoip/freeswitch');
    const esl = new EslClient({
      host: connection.eslHost,
      port: connection.eslPort,
      password: connection.eslPassword,
      connectTimeoutMs: 3000,
      commandTimeoutMs: 3000,
      reconnectAttempts: 1,
    });
    try {
      const status = await esl.api('status');
      return status.split('\n')[0]?.trim() || 'answered';
    } finally {
      await esl.close();
    }
  });
  const cacheDirectory = cache?.method === 'file' && cache.dir !== null ? [check('cache directory', () => cacheDirectoryCheck(cache.dir as string))] : [];
  return Promise.all([database, eventSocket, ...cacheDirectory]);
}

function serverName(value: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(value)) throw new InvalidArgumentError('must be 1-63 characters a-z, 0-9 and -, starting with a letter or digit');
  return value;
}

/**
 * `ictvoip servers add|list|test|enable|disable|remove`: the FusionPBX servers besides the default
 * one (FUSIONPBX_DATABASE_URL / ESL_*). Secrets are sealed in the bridge database and never printed.
 */
export function serversCommand(): Command {
  const servers = new Command('servers').description('FusionPBX servers served by this bridge (besides the default one from the environment)');
  servers
    .command('add <name>')
    .description('register a FusionPBX server; secrets are stored encrypted and never printed')
    .option('--database-url <url>', "the server's FusionPBX database URL (prefer --database-url-env: a flag lands in the shell history)")
    .option('--database-url-env <VAR>', 'read the database URL from this environment variable')
    .option('--database-url-stdin', 'read the database URL from the first line of standard input')
    .requiredOption('--esl-host <host>', 'event socket host')
    .option('--esl-port <port>', 'event socket port', eslPort, 8021)
    .option('--esl-password <password>', 'event socket password (prefer --esl-password-env)')
    .option('--esl-password-env <VAR>', 'read the event socket password from this environment variable')
    .option('--esl-password-stdin', 'read the event socket password from the first line of standard input')
    .option('--whmcs-server-id <id>', "WHMCS server id whose events go to this server (the event's server.id)", positiveInt('--whmcs-server-id'))
    .option('--whmcs-hostname <host>', 'WHMCS server hostname whose events go to this server (when the id does not match)')
    .option('--disabled', 'register it disabled (no job or request uses it until `servers enable`)')
    .option(
      '--cache-method <method>',
      `how this server's FusionPBX cache is cleared: ${FUSION_CACHE_METHODS.join(', ')} (default: follow FUSIONPBX_CACHE_METHOD)`,
      cacheMethodOption,
    )
    .option('--cache-dir <dir>', "with --cache-method file: this server's cache directory as mounted on the bridge's host")
    .option('--json', 'machine-readable output')
    .action(
      action(async (name: string, options: AddOptions) => {
        if (options.databaseUrlStdin && options.eslPasswordStdin) throw new CliError('INVALID_ARGUMENT', 'only one secret can come from standard input');
        const databaseUrl = secretFrom('database-url', options.databaseUrl, options.databaseUrlEnv, options.databaseUrlStdin === true);
        const eslPassword = secretFrom('esl-password', options.eslPassword, options.eslPasswordEnv, options.eslPasswordStdin === true);
        const added = await withRegistry((registry) =>
          registry.add({
            name,
            databaseUrl,
            eslHost: options.eslHost,
            eslPort: options.eslPort,
            eslPassword,
            whmcsServerId: options.whmcsServerId ?? null,
            whmcsHostname: options.whmcsHostname ?? null,
            enabled: options.disabled !== true,
            cacheMethod: options.cacheMethod ?? null,
            cacheDir: options.cacheDir ?? null,
          }),
        );
        const cfg = config();
        emit(options, { server: shown(added, cfg) }, () => `added ${line(added, cfg)}`);
      }),
    );
  servers
    .command('update <name>')
    .description('change a registered server in place (rotate a secret, move a host, change the WHMCS mapping); only the given options change')
    .option('--database-url <url>', 'new database URL (prefer --database-url-env)')
    .option('--database-url-env <VAR>', 'read the new database URL from this environment variable')
    .option('--database-url-stdin', 'read the new database URL from the first line of standard input')
    .option('--esl-host <host>', 'new event socket host')
    .option('--esl-port <port>', 'new event socket port', eslPort)
    .option('--esl-password <password>', 'new event socket password (prefer --esl-password-env)')
    .option('--esl-password-env <VAR>', 'read the new event socket password from this environment variable')
    .option('--esl-password-stdin', 'read the new event socket password from the first line of standard input')
    .option('--whmcs-server-id <id>', 'new WHMCS server id', positiveInt('--whmcs-server-id'))
    .option('--no-whmcs-server-id', 'remove the WHMCS server id mapping')
    .option('--whmcs-hostname <host>', 'new WHMCS server hostname')
    .option('--no-whmcs-hostname', 'remove the WHMCS hostname mapping')
    .option('--cache-method <method>', `how this server's FusionPBX cache is cleared: ${FUSION_CACHE_METHODS.join(', ')}`, cacheMethodOption)
    .option('--no-cache-method', 'follow FUSIONPBX_CACHE_METHOD again (refused while it is file)')
    .option('--cache-dir <dir>', "with the file cache method: this server's cache directory as mounted on the bridge's host")
    .option('--json', 'machine-readable output')
    .action(
      action(
        async (
          name: string,
          options: Omit<AddOptions, 'eslHost' | 'eslPort' | 'whmcsServerId' | 'whmcsHostname' | 'cacheMethod'> & {
            eslHost?: string;
            eslPort?: number;
            whmcsServerId?: number | false;
            whmcsHostname?: string | false;
            cacheMethod?: FusionCacheMethod | false;
          },
        ) => {
          if (options.databaseUrlStdin && options.eslPasswordStdin) throw new CliError('INVALID_ARGUMENT', 'only one secret can come from standard input');
          const changes = {
            databaseUrl: optionalSecretFrom('database-url', options.databaseUrl, options.databaseUrlEnv, options.databaseUrlStdin === true),
            eslPassword: optionalSecretFrom('esl-password', options.eslPassword, options.eslPasswordEnv, options.eslPasswordStdin === true),
            eslHost: options.eslHost,
            eslPort: options.eslPort,
            whmcsServerId: options.whmcsServerId === false ? null : options.whmcsServerId,
            whmcsHostname: options.whmcsHostname === false ? null : options.whmcsHostname,
            cacheMethod: options.cacheMethod === false ? null : options.cacheMethod,
            cacheDir: options.cacheDir,
          };
          const given = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
          if (Object.keys(given).length === 0) throw new CliError('INVALID_ARGUMENT', 'nothing to change: give at least one option');
          const updated = await withRegistry((registry) => registry.update(name, given));
          if (!updated) throw new CliError('NOT_FOUND', `no FusionPBX server named ${name}`);
          const cfg = config();
          emit(options, { server: shown(updated, cfg) }, () => `updated ${line(updated, cfg)}`);
        },
      ),
    );
  servers
    .command('list')
    .description('list the servers (the default one first); never their secrets')
    .option('--json', 'machine-readable output')
    .action(
      action(async (options: JsonOption) => {
        const cfg = config();
        const list = await withRegistry((registry) => registry.list());
        const defaultServer = {
          name: DEFAULT_SERVER_NAME,
          database: redactDatabaseUrl(cfg.fusionpbx.databaseUrl),
          eslHost: cfg.esl.host,
          eslPort: cfg.esl.port,
          source: 'environment',
          cache: cacheInEffect(null, cfg),
        };
        emit(options, { default: defaultServer, servers: list.map((server) => shown(server, cfg)) }, () =>
          [
            `${DEFAULT_SERVER_NAME}\tenabled\tfrom the environment\tdb ${defaultServer.database}\tesl ${cfg.esl.host}:${cfg.esl.port}\t${cacheText(defaultServer.cache)}`,
            ...list.map((server) => line(server, cfg)),
            ...list.flatMap((server) => {
              const warning = cacheWarning(server.name, server, cfg);
              return warning ? [`WARNING: ${warning}`] : [];
            }),
          ].join('\n'),
        );
      }),
    );
  servers
    .command('test <name>')
    .description("connect to a server's database and event socket (and cache directory, with the file method) and report each (exit 2 when one fails)")
    .option('--json', 'machine-readable output')
    .action(
      action(async (name: string, options: JsonOption) => {
        const cfg = config();
        const connection =
          name === DEFAULT_SERVER_NAME
            ? { databaseUrl: cfg.fusionpbx.databaseUrl, eslHost: cfg.esl.host, eslPort: cfg.esl.port, eslPassword: cfg.esl.password, cacheMethod: null, cacheDir: null }
            : await withRegistry((registry) => registry.spec(name));
        if (!connection) throw new CliError('NOT_FOUND', `no FusionPBX server named ${name}`);
        const cache = cacheInEffect(connection, cfg);
        const warning = name === DEFAULT_SERVER_NAME ? null : cacheWarning(name, connection, cfg);
        // A registered server following a bridge-wide `file` cannot have its cache cleared: a failed check, not a look at this host's directory.
        const checks = [...(await testServer(name, connection, warning ? null : cache)), ...(warning ? [{ name: 'cache', ok: false, latencyMs: 0, detail: warning }] : [])];
        const ok = checks.every((c) => c.ok);
        emit(options, { server: name, ok, checks, cache }, () =>
          [...checks.map((c) => `${name} ${c.name}: ${c.ok ? 'ok' : 'FAILED'} (${c.latencyMs} ms, ${c.detail})`), `${name} ${cacheText(cache)}`].join('\n'),
        );
        if (!ok) process.exitCode = 2;
      }),
    );
  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    servers
      .command(`${verb} <name>`)
      .description(enabled ? 'let jobs and requests use the server again' : "stop using the server: its tenants' jobs fail with FUSIONPBX_SERVER_DISABLED, its CDR sync waits")
      .option('--json', 'machine-readable output')
      .action(
        action(async (name: string, options: JsonOption) => {
          const found = await withRegistry((registry) => registry.setEnabled(name, enabled));
          if (!found) throw new CliError('NOT_FOUND', `no FusionPBX server named ${name}`);
          emit(options, { server: name, enabled }, () => `${name} ${enabled ? 'enabled' : 'disabled'}`);
        }),
      );
  }
  servers
    .command('remove <name>')
    .description('remove a decommissioned server; refused (nothing removed) while one of its services is not purged')
    .option('--json', 'machine-readable output')
    .action(
      action(async (name: string, options: JsonOption) => {
        const removed = await withRegistry((registry) => registry.remove(serverName(name)));
        if (!removed) throw new CliError('NOT_FOUND', `no FusionPBX server named ${name}`);
        emit(options, { removed: name }, () => `removed ${name}`);
      }),
    );
  return servers;
}
