import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router, type Request, type RequestHandler } from 'express';
import { ServicesRepository } from '@ictvoip/store';
import type { FusionTarget } from '@ictvoip/fusionpbx';
import { canonicalPeer, peerAddress } from '@ictvoip/whitelist';
import { isAdminToken } from '../admin-auth';
import type { ApiDeps } from '../deps';

/** ictVoIP's status endpoint (`/app/status/index.php`, WHMCS's "Server Status Address") and ours. */
export const STATUS_PATHS = ['/status', '/app/status', '/app/status/', '/app/status/index.php'];

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
  active_calls: number | null;
  total_extensions: number | null;
  registered_extensions: number | null;
  error?: string;
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
  const [activeCalls, totalExtensions, registeredExtensions] = await Promise.all([
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
    active_calls: activeCalls,
    total_extensions: totalExtensions,
    registered_extensions: registeredExtensions,
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
  };
}

function allowed(deps: ApiDeps, req: Request): boolean {
  if (isAdminToken(req.get('authorization'), deps.config.adminToken)) return true;
  return deps.whitelist.isAllowed(peerAddress(req, deps.trustProxy));
}

/**
 * ictVoIP-compatible status: `status` ("success" | "error"), `message`, `timestamp`, `version`,
 * `uptime` ("7 days, 3 hours"), `active_calls`, `total_extensions`, `registered_extensions` (numbers,
 * summed over the servers that answered), plus `uptime_seconds` and `servers` (per server, null where
 * it did not answer). Any server not answering makes `status` "error" (HTTP 200: the rest is still
 * reported). Open to chkcon_whitelist.conf's peers and to the admin token.
 */
export function statusRouter(deps: ApiDeps): Router {
  const router = Router();
  // One route per path: the metrics label each by its own path.
  const handler: RequestHandler = async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') return next();
    const now = new Date();
    if (!allowed(deps, req)) {
      const peer = peerAddress(req, deps.trustProxy);
      deps.logger.warn({ ip: canonicalPeer(peer) ?? peer ?? '' }, 'status denied');
      return void res.status(403).json({ status: 'error', message: 'API Access Denied: Only whitelisted IPs may access this endpoint.', timestamp: isoSeconds(now) });
    }
    try {
      const services = (await new ServicesRepository(deps.pool).listAll()).filter((service) => service.desiredState === 'active' && service.tenantDomain);
      const targets = await deps.targets.all();
      const servers = await Promise.all(
        targets.map((target) =>
          serverStatus(
            deps,
            target,
            services.filter((service) => service.fusionpbxServer === target.storedName).map((service) => service.tenantDomain!.toLowerCase()),
          ),
        ),
      );
      const sum = (field: 'active_calls' | 'total_extensions' | 'registered_extensions') => servers.reduce((total, server) => total + (server[field] ?? 0), 0);
      const failing = servers.filter((server) => server.error);
      const uptimeSeconds = Math.floor(process.uptime());
      res.status(200).json({
        status: failing.length === 0 ? 'success' : 'error',
        message: failing.length === 0 ? 'System operational' : `Degraded: ${failing.map((server) => `${server.name} (${server.error})`).join(', ')}`,
        timestamp: isoSeconds(now),
        version: VERSION,
        uptime: uptimeText(uptimeSeconds),
        uptime_seconds: uptimeSeconds,
        active_calls: sum('active_calls'),
        total_extensions: sum('total_extensions'),
        registered_extensions: sum('registered_extensions'),
        servers,
      });
    } catch (error) {
      deps.logger.error({ err: (error as Error).message }, 'status failed');
      res.status(500).json({ status: 'error', message: 'Server Error', timestamp: isoSeconds(now) });
    }
  };
  for (const path of STATUS_PATHS) router.all(path, handler);
  return router;
}
