/**
 * The per-server FusionPBX cache rule, in one place for the `ictvoip servers` commands (which do not
 * load @ictvoip/fusionpbx at start-up) and for the API's and the worker's targets (@ictvoip/fusionpbx):
 * which method clears a server's cache, and the warning for a server whose cache is never cleared.
 * No imports at run time: cheap to load.
 */
import type { FusionCacheMethod } from './fusion-servers-repository';

/** A server's cache fields as stored: a null or absent method follows the bridge-wide one. */
export interface FusionServerCacheFields {
  cacheMethod?: FusionCacheMethod | null;
  cacheDir?: string | null;
}

/** FUSIONPBX_CACHE_METHOD / FUSIONPBX_CACHE_DIR. */
export interface BridgeFusionCache {
  method: FusionCacheMethod;
  /** Read only with the `file` method. */
  dir: string | null | undefined;
}

/** How a server's cache is cleared in effect: its own method, or the bridge-wide one it follows. */
export interface FusionCacheInEffect {
  method: FusionCacheMethod;
  /** The directory the `file` method unlinks under; null for the others. */
  dir: string | null;
  source: 'server' | 'FUSIONPBX_CACHE_METHOD';
}

/** The cache in effect for a server (null: the default server, which always follows the bridge-wide one). */
export function fusionCacheInEffect(server: FusionServerCacheFields | null, bridgeWide: BridgeFusionCache): FusionCacheInEffect {
  const own = server?.cacheMethod ?? null;
  if (own !== null) return { method: own, dir: own === 'file' ? (server?.cacheDir ?? null) : null, source: 'server' };
  return { method: bridgeWide.method, dir: bridgeWide.method === 'file' ? (bridgeWide.dir ?? null) : null, source: 'FUSIONPBX_CACHE_METHOD' };
}

/**
 * The registered server would follow a bridge-wide `file` cache method: the bridge would unlink
 * cache files under its own FUSIONPBX_CACHE_DIR, which are not that server's (it is another host),
 * so its cache would never be cleared. Checked where a server is added or changed, warned about at
 * start-up and by `servers test` for one stored before the check.
 */
export function followsLocalFileCache(server: FusionServerCacheFields, bridgeCacheMethod: FusionCacheMethod): boolean {
  return (server.cacheMethod ?? null) === null && bridgeCacheMethod === 'file';
}

/**
 * Why a registered server's cache is never cleared (followsLocalFileCache), else null. `log`: the
 * API's and the worker's start-up warning (a sentence naming the FusionPBX server); `cli`: what
 * `ictvoip servers list` / `test` print after the server's name is already on the line.
 */
export function localFileCacheWarning(name: string, server: FusionServerCacheFields, bridgeCacheMethod: FusionCacheMethod, audience: 'log' | 'cli'): string | null {
  if (!followsLocalFileCache(server, bridgeCacheMethod)) return null;
  const problem =
    `${name} has no cache method of its own and FUSIONPBX_CACHE_METHOD is file: the bridge unlinks cache files on its own host, ` +
    `so ${name}'s cache is never cleared (stale directory and dialplan entries after a suspend or an extension change)`;
  const remedy = `\`ictvoip servers update ${name} --cache-method file-esl\` (or memcache, or file with --cache-dir)`;
  return audience === 'log' ? `FusionPBX server ${problem}. Give it one: ${remedy}` : `${problem}; set one: ${remedy}`;
}
