import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { ServicesRepository } from '@ictvoip/store';
import type { FusionTarget } from '@ictvoip/fusionpbx';
import { canonicalPeer, peerAddress } from '@ictvoip/whitelist';
import { isAdminToken } from '../admin-auth';
import { RateLimiter } from '../api-keys/rate-limiter';
import type { ApiDeps } from '../deps';
import { requestLogFields } from '../errors';

/** ictVoIP's status endpoint (`/app/status/index.php`) and ours: JSON, or WHMCS's text with `?format=whmcs`. */
export const STATUS_PATHS = ['/status', '/app/status', '/app/status/', '/app/status/index.php'];
/**
 * Always WHMCS's server-status text: a *Server Status Address* of `https://<bridge>/status/whmcs/`
 * works whether WHMCS fetches it as given or with `index.php` appended.
 */
export const WHMCS_STATUS_PATHS = ['/status/whmcs', '/status/whmcs/', '/status/whmcs/index.php'];

const RATE_LIMIT_DEADLINE_MS = 1000;

const SERVER_TIMEOUT_MS = 3000;

/** apps/api/package.json: the same from src/routes and dist/routes. */
function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
const VERSION = readVersion();

/** FreeSWITCH's `show calls count` answers e.g. "\n3 total.\n"; anything else is an error. */
export function parseCallsCount(reply: string): number {
  const match = /^\s*(\d+)\s+total\.?\s*$/m.exec(reply);
  if (!match) throw new Error(`unexpected reply to show calls count: ${JSON.stringify(reply.trim().slice(0, 80))}`);
  return Number(match[1]);
}

/** ictVoIP's uptime text, e.g. "7 days, 3 hours". */
export function uptimeText(seconds: number): string {
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return days > 0 ? `${unit(days, 'day')}, ${unit(hours, 'hour')}` : `${unit(hours, 'hour')}, ${unit(minutes, 'minute')}`;
}

/** ISO 8601 without milliseconds, as ictVoIP writes it ("2024-01-15T10:30:00Z"). */
const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface ServerStatus {
  name: string;
  /** FusionPBX's version as its database holds it (v_software); null when unknown. */
  version?: string | null;
  active_calls: number | null;
  total_extensions: number | null;
  registered_extensions: number | null;
  error?: string;
  /** A registered server switched off with `ictvoip servers disable` (its counts are not asked). */
  disabled?: true;
}

const UNANSWERED = { version: null, active_calls: null, total_extensions: null, registered_extensions: null } as const;

/** The row FusionPBX's core/software/app_defaults.php writes at every upgrade. */
const FUSIONPBX_SOFTWARE_UUID = '7de057e7-333b-4ebf-9466-315ae7d44efd';

/**
 * FusionPBX's version (ictVoIP's status `version`, e.g. "5.3.8"), or null: an install whose upgrade never
 * wrote it, or a database that does not answer (which the counts already report: not a second error).
 */
async function fusionpbxVersion(target: FusionTarget): Promise<string | null> {
  try {
    const { rows } = await withTimeout(
      target.pool.query<{ software_version: string | null }>('select software_version from v_software where software_uuid = $1', [FUSIONPBX_SOFTWARE_UUID]),
      'FusionPBX version',
    );
    const version = rows[0]?.software_version?.trim();
    return version ? version : null;
  } catch {
    return null;
  }
}

/** The FusionPBX versions of the servers that said one, each once ("5.3.8", or "5.1.1, 5.3.8"); "" when none did. */
export function fusionpbxVersions(servers: readonly ServerStatus[]): string {
  return [...new Set(servers.map((server) => server.version).filter((version): version is string => !!version))].join(', ');
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${SERVER_TIMEOUT_MS} ms`)), SERVER_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function serverStatus(deps: ApiDeps, target: FusionTarget, domains: string[]): Promise<ServerStatus> {
  const errors: string[] = [];
  const attempt = async <T>(what: string, run: () => Promise<T>): Promise<T | null> => {
    try {
      return await withTimeout(run(), what);
    } catch (error) {
      errors.push(`${what}: ${(error as Error).message}`);
      return null;
    }
  };
  const [version, activeCalls, totalExtensions, registeredExtensions] = await Promise.all([
    fusionpbxVersion(target),
    attempt('event socket', async () => parseCallsCount(await target.esl.api('show calls count'))),
    attempt('FusionPBX database', async () => {
      if (domains.length === 0) return 0;
      const { rows } = await target.pool.query<{ n: string }>(
        `select count(*) as n from v_extensions e join v_domains d on d.domain_uuid = e.domain_uuid
          where lower(d.domain_name) = any($1::text[]) and coalesce(e.enabled::text, 'true') = 'true'`,
        [domains],
      );
      return Number(rows[0]!.n);
    }),
    attempt('bridge database', async () => {
      const { rows } = await deps.pool.query<{ n: string }>('SELECT count(*) AS n FROM registrations WHERE server = $1 AND registered', [target.name]);
      return Number(rows[0]!.n);
    }),
  ]);
  return {
    name: target.name,
    version,
    active_calls: activeCalls,
    total_extensions: totalExtensions,
    registered_extensions: registeredExtensions,
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
  };
}

/** WHMCS's uptime text, as its stock server-status script writes it: "7 Days 03:12:45". */
export function whmcsUptime(seconds: number): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const days = Math.floor(seconds / 86400);
  return `${days} Days ${two(Math.floor((seconds % 86400) / 3600))}:${two(Math.floor((seconds % 3600) / 60))}:${two(seconds % 60)}`;
}

/**
 * The text WHMCS's server-status page (Network Status, admin homepage widget) reads from a *Server
 * Status Address*: `<load>` and `<uptime>` tags, as WHMCS's stock status script prints them. Load is
 * the bridge host's 1-minute load average, uptime the bridge's. The call and extension counts follow
 * as extra tags (WHMCS ignores them).
 */
export function whmcsStatusText(values: {
  load: number;
  uptimeSeconds: number;
  activeCalls: number | null;
  totalExtensions: number | null;
  registeredExtensions: number | null;
}): string {
  // A count no server answered is left out rather than printed as 0.
  const count = (tag: string, value: number | null) => (value === null ? [] : [`<${tag}>${value}</${tag}>`]);
  return [
    `<load>${values.load.toFixed(2)}</load>`,
    `<uptime>${whmcsUptime(values.uptimeSeconds)}</uptime>`,
    ...count('active_calls', values.activeCalls),
    ...count('total_extensions', values.totalExtensions),
    ...count('registered_extensions', values.registeredExtensions),
    '',
  ].join('\n');
}

type CountField = 'active_calls' | 'total_extensions' | 'registered_extensions';

/** A count summed over the servers that answered it; null when none did (a 0 would read as "no calls"). */
export function summedCount(servers: readonly ServerStatus[], field: CountField): number | null {
  const answered = servers.map((server) => server[field]).filter((value): value is number => value !== null);
  return answered.length === 0 && servers.length > 0 ? null : answered.reduce((total, value) => total + value, 0);
}

const STATUS_FORMATS = ['json', 'whmcs', 'text'];

/** `?format=` as given (lower case), '' when absent; null when it is none of STATUS_FORMATS (or given twice). */
function statusFormat(req: Request): string | null {
  const format = req.query.format;
  if (format === undefined) return '';
  return typeof format === 'string' && STATUS_FORMATS.includes(format.toLowerCase()) ? format.toLowerCase() : null;
}

/** ictVoIP's status page: WHMCS's stock status script copied to the FusionPBX host (servers.rst). */
const ICTVOIP_STATUS_PATHS = new Set(['/app/status', '/app/status/', '/app/status/index.php']);

/**
 * WHMCS reading a Server Status Address: a GET (or HEAD) of `<address>index.php` carrying no
 * credentials and no JSON in its Accept (PHP's curl accepts any type). On ictVoIP's page that is the
 * WHMCS text, as its copied status script answered; the API request its docs show (a POST, or
 * credentials, or JSON asked for) is JSON.
 */
function isWhmcsStatusFetch(req: Request): boolean {
  if (!ICTVOIP_STATUS_PATHS.has(req.path)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  return !req.get('authorization') && !/json/i.test(req.get('accept') ?? '');
}

/** `?format=whmcs` (or `text`), an Accept naming text/plain before any JSON, or WHMCS's own fetch of ictVoIP's page asks for WHMCS's text. */
function wantsWhmcsText(req: Request, forced: boolean, format: string): boolean {
  if (forced) return true;
  if (format === 'whmcs' || format === 'text') return true;
  if (format === 'json') return false;
  if (isWhmcsStatusFetch(req)) return true;
  return req.accepts(['application/json', 'text/plain']) === 'text/plain' && !/json/i.test(req.get('accept') ?? '');
}

/**
 * ictVoIP's documented limits come with `X-RateLimit-Limit/-Remaining/-Reset` (100 a minute by
 * default, STATUS_RATE_LIMIT per API_RATE_LIMIT_WINDOW_SECONDS), counted per caller address in Redis
 * (every API process shares it). The admin token is not limited. Redis down: answered without the
 * headers (a status probe must keep working when Redis is what is broken).
 */
async function statusRateLimit(deps: ApiDeps, limiter: RateLimiter, req: Request, res: Response): Promise<boolean> {
  if (isAdminToken(req.get('authorization'), deps.config.adminToken)) return true;
  const peer = peerAddress(req, deps.trustProxy);
  let timer: NodeJS.Timeout | undefined;
  try {
    const decision = await Promise.race([
      limiter.hit(`ip-${canonicalPeer(peer) ?? peer ?? 'unknown'}`, 'status', deps.config.monitoring.statusRateLimit),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('rate limiter (Redis) did not answer')), RATE_LIMIT_DEADLINE_MS);
      }),
    ]);
    res.setHeader('X-RateLimit-Limit', String(decision.limit));
    res.setHeader('X-RateLimit-Remaining', String(decision.remaining));
    res.setHeader('X-RateLimit-Reset', String(decision.resetAt));
    if (decision.allowed) return true;
    res.setHeader('Retry-After', String(decision.retryAfterSeconds));
    res
      .status(429)
      // Worded like the ictVoIP endpoints' 429: scripts match the documented error name "Rate Limited".
      .json({
        status: 'error',
        message: `Rate Limited: rate limit of ${decision.limit} requests per ${deps.config.api.rateLimitWindowSeconds} s exceeded for this address`,
        timestamp: isoSeconds(new Date()),
      });
    return false;
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message }, 'status rate limit not counted');
    return true;
  } finally {
    clearTimeout(timer);
  }
}

function allowed(deps: ApiDeps, req: Request): boolean {
  if (isAdminToken(req.get('authorization'), deps.config.adminToken)) return true;
  return deps.whitelist.isAllowed(peerAddress(req, deps.trustProxy));
}

/**
 * ictVoIP-compatible status: `status` ("success" | "error"), `message`, `timestamp`, `version`,
 * `uptime` ("7 days, 3 hours"), `active_calls`, `total_extensions`, `registered_extensions` (numbers,
 * summed over the servers that answered), plus `uptime_seconds` and `servers` (per server, null where
 * it did not answer; a disabled registered server listed with `disabled: true`). Any server not answering makes `status` "error" (HTTP 200: the rest is still
 * reported). Open to chkcon_whitelist.conf's peers and to the admin token.
 */
export function statusRouter(deps: ApiDeps): Router {
  const router = Router();
  const limiter = new RateLimiter(deps.redis, deps.config.redis.queuePrefix, deps.config.api.rateLimitWindowSeconds);
  // One route per path: the metrics label each by its own path.
  const handlerFor =
    (forceText: boolean): RequestHandler =>
    async (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') return next();
      const now = new Date();
      if (!allowed(deps, req)) {
        const peer = peerAddress(req, deps.trustProxy);
        deps.logger.warn({ ip: canonicalPeer(peer) ?? peer ?? '' }, 'status denied');
        return void res.status(403).json({ status: 'error', message: 'API Access Denied: Only whitelisted IPs may access this endpoint.', timestamp: isoSeconds(now) });
      }
      if (!(await statusRateLimit(deps, limiter, req, res))) return;
      const format = statusFormat(req);
      if (format === null) {
        return void res.status(400).json({ status: 'error', message: `Invalid Request: format must be one of ${STATUS_FORMATS.join(', ')}`, timestamp: isoSeconds(now) });
      }
      try {
        const services = (await new ServicesRepository(deps.pool).listAll()).filter((service) => service.desiredState === 'active' && service.tenantDomain);
        const { targets, unusable, disabled } = await deps.targets.scan();
        const answered = await Promise.all(
          targets.map((target) =>
            serverStatus(
              deps,
              target,
              services.filter((service) => service.fusionpbxServer === target.storedName).map((service) => service.tenantDomain!.toLowerCase()),
            ),
          ),
        );
        // A server that cannot be used (its secrets unreadable) is one failing server, not a failed status.
        const servers = [
          ...answered,
          ...unusable.map((server): ServerStatus => ({ ...UNANSWERED, name: server.name, error: server.reason })),
          // Switched off by the operator (`ictvoip servers disable`): said so, not asked, not a failure.
          ...disabled.map((name): ServerStatus => ({ ...UNANSWERED, name, disabled: true })),
        ];
        const sum = (field: CountField) => summedCount(servers, field);
        const failing = servers.filter((server) => server.error);
        const uptimeSeconds = Math.floor(process.uptime());
        if (wantsWhmcsText(req, forceText, format)) {
          const text = whmcsStatusText({
            load: loadavg()[0] ?? 0,
            uptimeSeconds,
            activeCalls: sum('active_calls'),
            totalExtensions: sum('total_extensions'),
            registeredExtensions: sum('registered_extensions'),
          });
          return void res.status(200).type('text/plain').send(text);
        }
        res.status(200).json({
          status: failing.length === 0 ? 'success' : 'error',
          message: failing.length === 0 ? 'System operational' : `Degraded: ${failing.map((server) => `${server.name} (${server.error})`).join(', ')}`,
          timestamp: isoSeconds(now),
          // ictVoIP's `version` is FusionPBX's ("5.3.8" in its docs); the bridge's own is bridge_version.
          version: fusionpbxVersions(servers),
          bridge_version: VERSION,
          uptime: uptimeText(uptimeSeconds),
          uptime_seconds: uptimeSeconds,
          active_calls: sum('active_calls'),
          total_extensions: sum('total_extensions'),
          registered_extensions: sum('registered_extensions'),
          servers,
        });
      } catch (error) {
        // Like every 5xx the API answers: its code, request id and path, for the operator (errors.ts requestLogFields).
        deps.logger.error({ err: (error as Error).message, status: 500, code: 'INTERNAL', ...requestLogFields(req, res) }, 'status failed');
        res.status(500).json({ status: 'error', message: 'Server Error', timestamp: isoSeconds(now) });
      }
    };
  for (const path of STATUS_PATHS) router.all(path, handlerFor(false));
  for (const path of WHMCS_STATUS_PATHS) router.all(path, handlerFor(true));
  return router;
}
