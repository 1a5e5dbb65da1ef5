import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { Logger } from '@ictvoip/config';
import { type CacheOptions, EslClient } from '@ictvoip/freeswitch';
import { fusionCacheInEffect, localFileCacheWarning } from '@ictvoip/store';
import { createProvisioner, type Provisioner } from '../provisioning/provisioner';
import type { ProvisionerOptions } from '../provisioning/types';

/** The server of FUSIONPBX_DATABASE_URL / ESL_*: a service whose `fusionpbx_server` is NULL lives there. */
export const DEFAULT_SERVER_NAME = 'default';

/** How to reach one FusionPBX server (secrets in clear: held in memory only, never logged). */
export interface FusionServerConnection {
  name: string;
  databaseUrl: string;
  eslHost: string;
  eslPort: number;
  eslPassword: string;
  enabled: boolean;
  /** How this server's FusionPBX cache is cleared; null or absent follows the bridge-wide cacheOptions. */
  cacheMethod?: CacheOptions['method'] | null;
  /** With cacheMethod `file`: this server's cache directory as mounted on the bridge's host. */
  cacheDir?: string | null;
}

/** The cache options a server is cleared with: its own method when it has one, else the bridge-wide ones (fusionCacheInEffect). */
export function serverCacheOptions(server: Pick<FusionServerConnection, 'cacheMethod' | 'cacheDir'>, bridgeWide: CacheOptions): CacheOptions {
  const cache = fusionCacheInEffect(server, { method: bridgeWide.method, dir: bridgeWide.method === 'file' ? bridgeWide.location : null });
  if (cache.source !== 'server') return bridgeWide;
  return cache.method === 'file' ? { method: cache.method, location: cache.dir ?? undefined } : { method: cache.method };
}

/** Everything a job or a request needs to act on one FusionPBX server. */
export interface FusionTarget {
  name: string;
  /** What is stored on the services row: null for the default server. */
  storedName: string | null;
  pool: Pool;
  esl: EslClient;
  provisioner: Provisioner;
  cacheOptions: CacheOptions;
}

export class FusionServerUnknownError extends Error {
  readonly code = 'FUSIONPBX_SERVER_UNKNOWN';
  constructor(readonly serverName: string) {
    super(`FusionPBX server ${serverName} is not registered`);
    this.name = 'FusionServerUnknownError';
  }
}

export class FusionServerDisabledError extends Error {
  readonly code = 'FUSIONPBX_SERVER_DISABLED';
  constructor(readonly serverName: string) {
    super(`FusionPBX server ${serverName} is disabled`);
    this.name = 'FusionServerDisabledError';
  }
}

/** The registry's lookup of the server mapped to a WHMCS server (by id, then hostname). */
export interface WhmcsServerMapping {
  findForWhmcsServer(server: { id?: number; hostname?: string } | undefined): Promise<{ name: string; enabled: boolean } | null>;
}

/** What the bridge stored about a service it knows: its server (null for the default server). */
export interface StoredServer {
  fusionpbxServer: string | null;
}

/** What an event says about where a new service goes: the WHMCS server it was created on. */
export interface EventServer {
  server?: { id?: number; hostname?: string };
}

/**
 * The one rule for the FusionPBX server an event acts on (the worker applying it, the webhook's
 * status and dry run, `ictvoip preview`): a service the bridge knows stays on its stored server (a
 * tenant never moves); a new one goes to the registered server whose WHMCS server id (then hostname)
 * matches the event's `server` block, else the default server (null). A matching but disabled server
 * is refused rather than replaced by the default: the tenant would land on the wrong PBX.
 */
export async function serverForEvent(registry: WhmcsServerMapping, service: StoredServer | null, event: EventServer): Promise<string | null> {
  if (service) return service.fusionpbxServer;
  const match = await registry.findForWhmcsServer(event.server);
  if (!match) return null;
  if (!match.enabled) throw new FusionServerDisabledError(match.name);
  return match.name;
}

/**
 * Marks what one FusionPBX server's pool throws with the server's name (`fusionpbxServer`), so a
 * database that does not answer is told apart from the bridge's own (the API's 503 names it, the CDR
 * sync pauses that server). Only the promise forms are marked; a callback is passed through untouched.
 */
export function namingFusionServer(pool: Pool, server: string): Pool {
  const mark = (error: unknown): never => {
    if (typeof error === 'object' && error !== null && Object.isExtensible(error)) (error as { fusionpbxServer?: string }).fusionpbxServer ??= server;
    throw error;
  };
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const result = query(...args);
    // A callback, or a submittable (a cursor): passed through as pg returns it.
    return typeof (result as Promise<unknown> | undefined)?.then === 'function' ? (result as Promise<unknown>).then(undefined, mark) : result;
  }) as Pool['query'];
  pool.connect = ((...args: unknown[]) => {
    if (args.length > 0) return connect(...args);
    return (connect() as Promise<unknown>).catch(mark);
  }) as Pool['connect'];
  return pool;
}

/** The FusionPBX server whose pool threw `error` (namingFusionServer), or null (the bridge database, or not a database error). */
export function fusionServerOfError(error: unknown): string | null {
  const server = typeof error === 'object' && error !== null ? (error as { fusionpbxServer?: unknown }).fusionpbxServer : undefined;
  return typeof server === 'string' ? server : null;
}

/** A registered, enabled server that cannot be used now, and why (never a secret). */
export interface UnusableFusionServer {
  name: string;
  code: string;
  reason: string;
}

/**
 * The server's own problem when `error` is one (its sealed secrets cannot be opened, it is disabled
 * or no longer registered), else null: the bridge database failing is everyone's problem. A
 * SealedSecretError (@ictvoip/store) names a key id, never a key or a secret.
 */
export function unusableServerOf(name: string, error: unknown): UnusableFusionServer | null {
  if (error instanceof FusionServerDisabledError || error instanceof FusionServerUnknownError) return { name, code: error.code, reason: error.message };
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && typeof code === 'string' && code.startsWith('SEALED_SECRET_'))
    return {
      name,
      code,
      reason: `its stored secrets cannot be opened: ${error.message} (give both again: \`ictvoip servers update ${name} --database-url-env <VAR> --esl-password-env <VAR>\`)`,
    };
  return null;
}

export interface FusionTargetsScan {
  /** The default server first, then every enabled registered server that could be opened. */
  targets: FusionTarget[];
  unusable: UnusableFusionServer[];
  /** Registered servers switched off with `ictvoip servers disable`. */
  disabled: string[];
}

export interface FusionTargetsOptions {
  defaultServer: Omit<FusionServerConnection, 'name' | 'enabled'>;
  /** Reads a registered server (the registry); null when there is none of that name. */
  loadServer(name: string): Promise<FusionServerConnection | null>;
  /**
   * Lists the registered servers by name (for health checks and the per-server scans); no secret is
   * opened here, so one server whose secrets cannot be opened does not hide the others.
   */
  listServers(): Promise<(Pick<FusionServerConnection, 'name' | 'enabled'> & Partial<Pick<FusionServerConnection, 'cacheMethod'>>)[]>;
  openPool(databaseUrl: string, serverName: string): Pool;
  openEsl(connection: { host: string; port: number; password: string }, serverName: string): EslClient;
  provisionerOptions: ProvisionerOptions;
  cacheOptions: CacheOptions;
  /** Where a new service's event goes (forEvent). */
  registry: WhmcsServerMapping;
  /** Lets the worker time the provisioner's calls. */
  wrapProvisioner?(provisioner: Provisioner, serverName: string): Provisioner;
}

// Longer than any job or request holds a connection (the worker's job lock is 30 s by default).
const RETIRE_AFTER_MS = 120_000;

async function closeTarget(target: FusionTarget): Promise<void> {
  await target.esl.close();
  await target.pool.end();
}

function fingerprint(connection: Omit<FusionServerConnection, 'name' | 'enabled'>): string {
  return createHash('sha256')
    .update(JSON.stringify([connection.databaseUrl, connection.eslHost, connection.eslPort, connection.eslPassword, connection.cacheMethod ?? null, connection.cacheDir ?? null]))
    .digest('hex');
}

/**
 * Resolves a server name to its connections, opening each server's pool and event socket on first
 * use and keeping them. A registered server is re-read on every resolve (one primary-key query), so
 * an edit or a disable through `ictvoip servers` reaches running processes without a restart; the
 * connections of an edited server are replaced and the old ones closed at shutdown (jobs may still use them).
 */
export class FusionTargets {
  private readonly targets = new Map<string, { fingerprint: string; target: FusionTarget }>();
  private readonly retired = new Set<FusionTarget>();
  readonly defaultTarget: FusionTarget;

  constructor(private readonly options: FusionTargetsOptions) {
    this.defaultTarget = this.open(DEFAULT_SERVER_NAME, null, options.defaultServer);
  }

  /** The options every server's provisioner runs with (the drift report re-derives a plan's routes from their templates). */
  get provisionerOptions(): ProvisionerOptions {
    return this.options.provisionerOptions;
  }

  /** null and 'default' are the default server. */
  async get(name: string | null): Promise<FusionTarget> {
    if (name === null || name === DEFAULT_SERVER_NAME) return this.defaultTarget;
    const server = await this.options.loadServer(name);
    if (!server) throw new FusionServerUnknownError(name);
    if (!server.enabled) throw new FusionServerDisabledError(name);
    const print = fingerprint(server);
    const cached = this.targets.get(name);
    if (cached?.fingerprint === print) return cached.target;
    if (cached) this.retire(cached.target);
    const target = this.open(name, name, server);
    this.targets.set(name, { fingerprint: print, target });
    return target;
  }

  /** The server an event acts on (serverForEvent's rule). */
  async forEvent(service: StoredServer | null, event: EventServer): Promise<FusionTarget> {
    return this.get(await serverForEvent(this.options.registry, service, event));
  }

  /** The default server and every enabled registered one that can be opened (a scan over "all tenants" covers each). */
  async all(): Promise<FusionTarget[]> {
    return (await this.scan()).targets;
  }

  /**
   * The default server and every enabled registered one, as all(); besides, the registered servers
   * that cannot be used (secrets no configured SEALING_KEY opens, removed meanwhile) with the reason,
   * and the disabled ones, so a listing over every server reports them instead of failing as a whole.
   */
  async scan(): Promise<FusionTargetsScan> {
    const scan: FusionTargetsScan = { targets: [this.defaultTarget], unusable: [], disabled: [] };
    const listed = await this.options.listServers();
    // A scan (the API's /status, drift, …) also lets go of servers removed since: as closeRemoved, from this listing.
    await this.closeUnlisted(listed);
    for (const server of listed) {
      if (!server.enabled) {
        scan.disabled.push(server.name);
        continue;
      }
      try {
        scan.targets.push(await this.get(server.name));
      } catch (error) {
        const unusable = unusableServerOf(server.name, error);
        if (!unusable) throw error;
        if (error instanceof FusionServerDisabledError) scan.disabled.push(server.name);
        else scan.unusable.push(unusable);
      }
    }
    return scan;
  }

  /**
   * Closes the pool and event socket of each server opened here that is no longer registered (`ictvoip
   * servers remove`): nothing resolves it again, so they stayed open until shutdown. The registry is
   * read here, just before, so a server added back meanwhile keeps its connections. Returns the names.
   */
  async closeRemoved(): Promise<string[]> {
    return this.closeUnlisted(await this.options.listServers());
  }

  private async closeUnlisted(listed: readonly Pick<FusionServerConnection, 'name'>[]): Promise<string[]> {
    const registered = new Set(listed.map((server) => server.name));
    const removed = [...this.targets.keys()].filter((name) => !registered.has(name));
    for (const name of removed) {
      const entry = this.targets.get(name)!;
      this.targets.delete(name);
      await closeTarget(entry.target).catch(() => undefined);
    }
    return removed;
  }

  /**
   * Warns, once per registered server (enabled or not), about each whose cache the bridge cannot
   * clear: it follows a bridge-wide `file` method (localFileCacheWarning, @ictvoip/store). Called at start-up by the
   * API and the worker; a registry that cannot be read is a warning too, never a failed start.
   */
  async warnAboutLocalFileCaches(logger: Logger): Promise<void> {
    if (this.options.cacheOptions.method !== 'file') return;
    try {
      for (const server of await this.options.listServers()) {
        const warning = localFileCacheWarning(server.name, server, this.options.cacheOptions.method, 'log');
        if (warning) logger.warn({ server: server.name }, warning);
      }
    } catch (error) {
      logger.warn({ server: null }, `registered servers' cache methods not checked: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    const targets = [this.defaultTarget, ...[...this.targets.values()].map((entry) => entry.target), ...this.retired];
    this.targets.clear();
    this.retired.clear();
    await Promise.allSettled(targets.map(closeTarget));
  }

  /** Connections of an edited server: jobs that hold them finish first, then they are closed. */
  private retire(target: FusionTarget): void {
    this.retired.add(target);
    setTimeout(() => {
      if (this.retired.delete(target)) void closeTarget(target).catch(() => undefined);
    }, RETIRE_AFTER_MS).unref();
  }

  private open(name: string, storedName: string | null, connection: Omit<FusionServerConnection, 'name' | 'enabled'>): FusionTarget {
    const pool = namingFusionServer(this.options.openPool(connection.databaseUrl, name), name);
    const esl = this.options.openEsl({ host: connection.eslHost, port: connection.eslPort, password: connection.eslPassword }, name);
    const provisioner = createProvisioner({ pool, options: this.options.provisionerOptions });
    return {
      name,
      storedName,
      pool,
      esl,
      provisioner: this.options.wrapProvisioner?.(provisioner, name) ?? provisioner,
      cacheOptions: serverCacheOptions(connection, this.options.cacheOptions),
    };
  }
}
