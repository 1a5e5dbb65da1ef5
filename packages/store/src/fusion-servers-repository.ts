import type { Pool } from 'pg';
import { followsLocalFileCache } from './fusion-server-cache';
import { DEFAULT_FUSION_SERVER } from './fusion-server-guard';
import { openSecrets, SealedSecretError, sealSecrets, type SealingKeyring } from './sealed-secrets';
import { purgedServiceSql } from './services-repository';
import { inTransaction } from './transaction';
import { lockGatewayRowsOfServer } from './gateway-monitoring-repository';
import { lockRegistrationRowsOfServer } from './registrations-repository';

export { DEFAULT_FUSION_SERVER, FusionServerGoneError } from './fusion-server-guard';
export const FUSION_SERVER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** How a server's FusionPBX cache is cleared (as FUSIONPBX_CACHE_METHOD): see CacheOptions in @ictvoip/freeswitch. */
export const FUSION_CACHE_METHODS = ['file-esl', 'memcache', 'file'] as const;
export type FusionCacheMethod = (typeof FUSION_CACHE_METHODS)[number];

/** A cache method of a registered server; null follows the bridge-wide FUSIONPBX_CACHE_METHOD / FUSIONPBX_CACHE_DIR. */
export interface FusionServerCache {
  cacheMethod: FusionCacheMethod | null;
  /** Only with `file`: this server's cache directory as the bridge's host sees it (a mount). */
  cacheDir: string | null;
}

/** A registered server with its secrets opened: for the processes that connect, never for output. */
export interface FusionServerSpec {
  name: string;
  databaseUrl: string;
  eslHost: string;
  eslPort: number;
  eslPassword: string;
  enabled: boolean;
  whmcsServerId: number | null;
  whmcsHostname: string | null;
  cacheMethod: FusionCacheMethod | null;
  cacheDir: string | null;
}

/** What may be shown: the database URL without its password, no event-socket password. */
export interface FusionServerSummary {
  name: string;
  whmcsServerId: number | null;
  whmcsHostname: string | null;
  database: string;
  eslHost: string;
  eslPort: number;
  enabled: boolean;
  cacheMethod: FusionCacheMethod | null;
  cacheDir: string | null;
  boundServices: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewFusionServer {
  name: string;
  databaseUrl: string;
  eslHost: string;
  eslPort: number;
  eslPassword: string;
  whmcsServerId?: number | null;
  whmcsHostname?: string | null;
  enabled?: boolean;
  cacheMethod?: FusionCacheMethod | null;
  cacheDir?: string | null;
}

export class FusionServerInputError extends Error {
  readonly code = 'FUSIONPBX_SERVER_INVALID';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'FusionServerInputError';
  }
}

export class FusionServerConflictError extends Error {
  readonly code = 'FUSIONPBX_SERVER_CONFLICT';
  constructor(message: string) {
    super(message);
    this.name = 'FusionServerConflictError';
  }
}

export class FusionServerInUseError extends Error {
  readonly code = 'FUSIONPBX_SERVER_IN_USE';
  constructor(
    readonly serverName: string,
    /** Services bound to the server and not purged (active, suspended, or terminated and waiting for the purge). */
    readonly services: number,
    readonly terminated = 0,
  ) {
    super(
      `server ${serverName} still has ${services} live service(s)${terminated > 0 ? ` (${terminated} of them terminated, waiting for the purge after TERMINATE_RETENTION_DAYS)` : ''}; ` +
        `nothing was removed. A tenant never moves between servers: terminate the others in WHMCS (list them with \`ictvoip tenants list --server ${serverName}\`) ` +
        `and remove the server once the purge has run, or keep it (\`ictvoip servers disable ${serverName}\`)`,
    );
    this.name = 'FusionServerInUseError';
  }
}

interface ServerRow {
  name: string;
  whmcs_server_id: number | null;
  whmcs_hostname: string | null;
  database_url: string;
  esl_host: string;
  esl_port: number;
  esl_password: string;
  enabled: boolean;
  cache_method: FusionCacheMethod | null;
  cache_dir: string | null;
  created_at: Date;
  updated_at: Date;
  bound_services?: string;
}

/** The URL as it may be printed: scheme, user, host, port, database and options; a password never (`?password=` included). */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    for (const name of [...parsed.searchParams.keys()]) if (/pass|secret|key|token/i.test(name)) parsed.searchParams.delete(name);
    return parsed.toString();
  } catch {
    return '(unparseable)';
  }
}

function validDatabaseUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return (parsed.protocol === 'postgres:' || parsed.protocol === 'postgresql:') && parsed.hostname !== '' && parsed.pathname.length > 1;
  } catch {
    return false;
  }
}

/**
 * Every field checked before anything is written; the first bad one is named. With
 * `bridgeCacheMethod` (FUSIONPBX_CACHE_METHOD), a server that would follow a bridge-wide `file` is refused.
 */
export function validateFusionServer(input: NewFusionServer, bridgeCacheMethod?: FusionCacheMethod): void {
  if (!FUSION_SERVER_NAME.test(input.name)) throw new FusionServerInputError('name', 'must be 1-63 characters a-z, 0-9 and -, starting with a letter or digit');
  if (input.name === DEFAULT_FUSION_SERVER)
    throw new FusionServerInputError('name', `"${DEFAULT_FUSION_SERVER}" is the server set by FUSIONPBX_DATABASE_URL / ESL_* and cannot be registered`);
  // The message never echoes the URL: it may carry a password.
  if (!validDatabaseUrl(input.databaseUrl)) throw new FusionServerInputError('databaseUrl', 'must be a postgres:// or postgresql:// URL with a host and a database');
  if (!HOSTNAME.test(input.eslHost) && !IPV6.test(input.eslHost)) throw new FusionServerInputError('eslHost', 'must be a host name or an IP address');
  if (!Number.isInteger(input.eslPort) || input.eslPort < 1 || input.eslPort > 65535) throw new FusionServerInputError('eslPort', 'must be an integer from 1 to 65535');
  // As the event-socket client takes it (it sends it on the `auth` line): a password it refuses would fail every use of the server.
  if (input.eslPassword.length === 0 || /\s/.test(input.eslPassword)) throw new FusionServerInputError('eslPassword', 'must be non-empty, without spaces or line breaks');
  if (input.whmcsServerId != null && (!Number.isSafeInteger(input.whmcsServerId) || input.whmcsServerId < 1))
    throw new FusionServerInputError('whmcsServerId', 'must be a positive integer');
  if (input.whmcsHostname != null && !HOSTNAME.test(input.whmcsHostname)) throw new FusionServerInputError('whmcsHostname', 'must be a host name');
  validateCache(input.cacheMethod ?? null, input.cacheDir ?? null, bridgeCacheMethod);
}

const CACHE_DIR_CONTROL = /[\u0000-\u001f\u007f]/;

function validateCache(method: FusionCacheMethod | null, dir: string | null, bridgeCacheMethod: FusionCacheMethod | undefined): void {
  if (method !== null && !(FUSION_CACHE_METHODS as readonly string[]).includes(method))
    throw new FusionServerInputError('cacheMethod', `must be one of ${FUSION_CACHE_METHODS.join(', ')}`);
  if (dir !== null && method !== 'file') throw new FusionServerInputError('cacheDir', 'is only for the file cache method');
  if (method === 'file' && dir === null)
    throw new FusionServerInputError('cacheDir', "the file cache method needs this server's cache directory as mounted on the bridge's host (the server is not this host)");
  if (dir !== null && (!dir.startsWith('/') || dir.length > 4096 || CACHE_DIR_CONTROL.test(dir)))
    throw new FusionServerInputError('cacheDir', 'must be an absolute path without control characters');
  if (bridgeCacheMethod !== undefined && followsLocalFileCache({ cacheMethod: method }, bridgeCacheMethod))
    throw new FusionServerInputError(
      'cacheMethod',
      "FUSIONPBX_CACHE_METHOD is file (the bridge unlinks cache files on its own host), which cannot clear a registered server's cache: give the server its own (file-esl, memcache, or file with its cache directory mounted here)",
    );
}

function summaryOf(row: ServerRow, keyring: SealingKeyring): FusionServerSummary {
  let database = '(sealed with another key)';
  try {
    database = redactDatabaseUrl(openSecrets(row.database_url, keyring).url ?? '');
  } catch {
    // listed anyway: the operator sees the server and can re-add it
  }
  return {
    name: row.name,
    whmcsServerId: row.whmcs_server_id,
    whmcsHostname: row.whmcs_hostname,
    database,
    eslHost: row.esl_host,
    eslPort: row.esl_port,
    enabled: row.enabled,
    cacheMethod: row.cache_method,
    cacheDir: row.cache_dir,
    boundServices: Number(row.bound_services ?? 0),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const SELECT_WITH_COUNT = `SELECT s.*, (SELECT count(*) FROM services v WHERE v.fusionpbx_server = s.name) AS bound_services FROM fusionpbx_servers s`;

/**
 * The registry of FusionPBX servers besides the default one. Secrets are sealed with the current
 * SEALING_KEY and opened with the key their id names, so a rotation that keeps the previous key
 * listed still opens them (and `ictvoip secrets reseal` moves them to the current key).
 */
export class FusionServersRepository {
  constructor(
    private readonly db: Pool,
    private readonly keyring: SealingKeyring,
    /** FUSIONPBX_CACHE_METHOD, for the commands that add or change servers: refuses one that would follow `file` (followsLocalFileCache). */
    private readonly options: { bridgeCacheMethod?: FusionCacheMethod } = {},
  ) {}

  async add(input: NewFusionServer): Promise<FusionServerSummary> {
    validateFusionServer(input, this.options.bridgeCacheMethod);
    const key = this.keyring;
    if (key.keys.length === 0) throw new FusionServerInputError('key', 'no sealing key configured');
    try {
      const { rows } = await this.db.query<ServerRow>(
        `INSERT INTO fusionpbx_servers (name, whmcs_server_id, whmcs_hostname, database_url, esl_host, esl_port, esl_password, enabled, cache_method, cache_dir)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *, 0 AS bound_services`,
        [
          input.name,
          input.whmcsServerId ?? null,
          input.whmcsHostname ?? null,
          sealSecrets({ url: input.databaseUrl }, key),
          input.eslHost,
          input.eslPort,
          sealSecrets({ password: input.eslPassword }, key),
          input.enabled ?? true,
          input.cacheMethod ?? null,
          input.cacheDir ?? null,
        ],
      );
      return summaryOf(rows[0]!, this.keyring);
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      const constraint = (error as { constraint?: string }).constraint ?? '';
      if (constraint.includes('whmcs_server_id')) throw new FusionServerConflictError(`WHMCS server id ${input.whmcsServerId} is already mapped to another server`);
      if (constraint.includes('hostname')) throw new FusionServerConflictError(`WHMCS hostname ${input.whmcsHostname} is already mapped to another server`);
      throw new FusionServerConflictError(`a server named ${input.name} is already registered`);
    }
  }

  async list(): Promise<FusionServerSummary[]> {
    const { rows } = await this.db.query<ServerRow>(`${SELECT_WITH_COUNT} ORDER BY s.name`);
    return rows.map((row) => summaryOf(row, this.keyring));
  }

  async summary(name: string): Promise<FusionServerSummary | null> {
    const { rows } = await this.db.query<ServerRow>(`${SELECT_WITH_COUNT} WHERE s.name = $1`, [name]);
    return rows[0] ? summaryOf(rows[0], this.keyring) : null;
  }

  /** The server with its secrets opened (throws SealedSecretError when no configured key opens them). */
  async spec(name: string): Promise<FusionServerSpec | null> {
    const { rows } = await this.db.query<ServerRow>('SELECT * FROM fusionpbx_servers WHERE name = $1', [name]);
    return rows[0] ? this.open(rows[0]) : null;
  }

  /**
   * Every registered server with its secrets opened; those no configured key opens are apart, with
   * the reason (a key id, never a key or a secret), so one of them does not hide the others.
   */
  async specs(): Promise<{ specs: FusionServerSpec[]; unreadable: { name: string; enabled: boolean; reason: string }[] }> {
    const { rows } = await this.db.query<ServerRow>('SELECT * FROM fusionpbx_servers ORDER BY name');
    const result: Awaited<ReturnType<FusionServersRepository['specs']>> = { specs: [], unreadable: [] };
    for (const row of rows) {
      try {
        result.specs.push(this.open(row));
      } catch (error) {
        if (!(error instanceof SealedSecretError)) throw error;
        result.unreadable.push({ name: row.name, enabled: row.enabled, reason: `its stored secrets cannot be opened: ${error.message}` });
      }
    }
    return result;
  }

  /** The registered server an event's `server` block names: by WHMCS server id first, then by hostname. */
  async findForWhmcsServer(server: { id?: number; hostname?: string } | undefined): Promise<{ name: string; enabled: boolean } | null> {
    if (!server) return null;
    const { rows } = await this.db.query<{ name: string; enabled: boolean }>(
      `SELECT name, enabled FROM fusionpbx_servers
        WHERE ($1::int IS NOT NULL AND whmcs_server_id = $1::int)
           OR ($2::text IS NOT NULL AND lower(whmcs_hostname) = lower($2::text))
        ORDER BY (whmcs_server_id IS NOT DISTINCT FROM $1::int) DESC LIMIT 1`,
      [Number.isSafeInteger(server.id) ? server.id : null, typeof server.hostname === 'string' && server.hostname !== '' ? server.hostname : null],
    );
    return rows[0] ?? null;
  }

  /**
   * Changes a registered server in place (a rotated password, a moved host, a new WHMCS mapping):
   * the only way to change a server that has tenants. Validated as a whole before it is written.
   */
  async update(name: string, changes: Partial<Omit<NewFusionServer, 'name'>>): Promise<FusionServerSummary | null> {
    const current = await this.currentFor(name, changes);
    if (!current) return null;
    const next: NewFusionServer = { ...current, ...changes, name };
    // Leaving the file method leaves its directory too, unless the change names one (then refused).
    if (changes.cacheMethod !== undefined && changes.cacheMethod !== 'file' && changes.cacheDir === undefined) next.cacheDir = null;
    validateFusionServer(next, this.options.bridgeCacheMethod);
    const key = this.keyring;
    try {
      await this.db.query(
        `UPDATE fusionpbx_servers SET whmcs_server_id = $2, whmcs_hostname = $3, database_url = $4, esl_host = $5, esl_port = $6, esl_password = $7, enabled = $8,
                cache_method = $9, cache_dir = $10, updated_at = now()
          WHERE name = $1`,
        [
          name,
          next.whmcsServerId ?? null,
          next.whmcsHostname ?? null,
          sealSecrets({ url: next.databaseUrl }, key),
          next.eslHost,
          next.eslPort,
          sealSecrets({ password: next.eslPassword }, key),
          next.enabled ?? true,
          next.cacheMethod ?? null,
          next.cacheDir ?? null,
        ],
      );
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      throw new FusionServerConflictError(`the WHMCS server id or hostname is already mapped to another server`);
    }
    return this.summary(name);
  }

  /**
   * The server as it is, for an update: its secrets opened, or, when they cannot be (sealed with a key
   * no longer configured) and the update gives both anew, without them: that is how such a server is mended.
   */
  private async currentFor(name: string, changes: Partial<Omit<NewFusionServer, 'name'>>): Promise<FusionServerSpec | null> {
    const { rows } = await this.db.query<ServerRow>('SELECT * FROM fusionpbx_servers WHERE name = $1', [name]);
    const row = rows[0];
    if (!row) return null;
    try {
      return this.open(row);
    } catch (error) {
      if (!(error instanceof SealedSecretError) || changes.databaseUrl === undefined || changes.eslPassword === undefined) throw error;
      return this.open(row, { databaseUrl: changes.databaseUrl, eslPassword: changes.eslPassword });
    }
  }

  async setEnabled(name: string, enabled: boolean): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE fusionpbx_servers SET enabled = $2, updated_at = now() WHERE name = $1', [name, enabled]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Removes a decommissioned server: refused while one of its services is live (not purged), and
   * then nothing is removed. Its purged services keep its name (history), its current registration
   * and gateway states go. One transaction, the services table share-locked, so no service is bound
   * to the server between the count and the delete.
   */
  async remove(name: string): Promise<boolean> {
    const client = await this.db.connect();
    try {
      return await inTransaction(client, async () => {
        const { rowCount } = await client.query('SELECT 1 FROM fusionpbx_servers WHERE name = $1 FOR UPDATE', [name]);
        if (!rowCount) return false;
        await client.query('LOCK TABLE services IN SHARE MODE');
        const { rows } = await client.query<{ live: string; terminated: string }>(
          `SELECT count(*) AS live, count(*) FILTER (WHERE s.desired_state = 'terminated') AS terminated
             FROM services s WHERE s.fusionpbx_server = $1 AND NOT ${purgedServiceSql('s')}`,
          [name],
        );
        const live = Number(rows[0]?.live ?? 0);
        if (live > 0) throw new FusionServerInUseError(name, live, Number(rows[0]?.terminated ?? 0));
        // A poll of the server still running locks its rows in key order: taken in that order first, not in the order a DELETE scans them.
        await lockRegistrationRowsOfServer(client, name);
        await lockGatewayRowsOfServer(client, name);
        for (const table of ['registrations', 'registration_servers', 'gateway_states']) await client.query(`DELETE FROM ${table} WHERE server = $1`, [name]);
        await client.query('DELETE FROM fusionpbx_servers WHERE name = $1', [name]);
        return true;
      });
    } finally {
      client.release();
    }
  }

  /** The row with its secrets opened (or `replacing` them, for an update that gives both anew). */
  private open(row: ServerRow, replacing?: { databaseUrl: string; eslPassword: string }): FusionServerSpec {
    return {
      name: row.name,
      databaseUrl: replacing?.databaseUrl ?? openSecrets(row.database_url, this.keyring).url ?? '',
      eslHost: row.esl_host,
      eslPort: row.esl_port,
      eslPassword: replacing?.eslPassword ?? openSecrets(row.esl_password, this.keyring).password ?? '',
      enabled: row.enabled,
      whmcsServerId: row.whmcs_server_id,
      whmcsHostname: row.whmcs_hostname,
      cacheMethod: row.cache_method,
      cacheDir: row.cache_dir,
    };
  }
}
