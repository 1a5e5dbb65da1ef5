import { unlink } from 'node:fs/promises';
import path from 'node:path';
import type { EslClient } from './esl/client';
import { EslCommandError } from './esl/errors';
import { validateCacheKey } from './validate';

/**
 * How the FusionPBX cache is cleared (reference §9). FusionPBX's default is the file cache in
 * /var/cache/fusionpbx, whose entries never expire.
 * - `memcache`: `api memcache delete <key>` (cache/method = memcache).
 * - `file-esl`: the file cache on the FreeSWITCH host, cleared through the shipped
 *   `app/servers/resources/clear_cache.lua` (`api lua … delete <file>`): works when the bridge runs elsewhere.
 * - `file`: the bridge runs on the FusionPBX host and unlinks `<location>/<file>` itself.
 */
export type CacheOptions = { method: 'memcache' } | { method: 'file-esl' } | { method: 'file'; location?: string };

export const DEFAULT_CACHE_LOCATION = '/var/cache/fusionpbx';

/** Lua cache.lua key2file(): ':' → '.', '\\' and '/' → '_'. */
export function cacheFileName(key: string): string {
  return key.replace(/:/g, '.').replace(/[\\/]/g, '_');
}

/** What deleting one key takes: an event-socket command (and the -ERR replies that mean "already gone"), or a local unlink. */
export type CacheDeletePlan = { command: string; tolerated: RegExp } | { unlink: string };

/** Plans the deletion of `key` without doing it (the key is validated by the caller, or is a dry-run placeholder). */
export function cacheDeletePlan(options: CacheOptions, key: string): CacheDeletePlan {
  if (options.method === 'memcache') return { command: `memcache delete ${key}`, tolerated: /not.?found/i };
  // The script writes nothing to the stream, so FreeSWITCH answers "-ERR no reply".
  if (options.method === 'file-esl') return { command: `lua app/servers/resources/clear_cache.lua delete ${cacheFileName(key)}`, tolerated: /no reply/i };
  return { unlink: path.join(options.location ?? DEFAULT_CACHE_LOCATION, cacheFileName(key)) };
}

/** The command deleteCacheKey would run for `key`, without running it (dry-run). */
export function cacheDeleteCommand(options: CacheOptions, key: string): string {
  const plan = cacheDeletePlan(options, key);
  return 'unlink' in plan ? `unlink ${plan.unlink}` : plan.command;
}

/** Removes a cache file; one that is already gone counts as removed. */
export async function unlinkCacheFile(file: string): Promise<void> {
  await unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** Deletes one key; a key that is already gone counts as success. Returns what was done (for logs/tests). */
export async function deleteCacheKey(esl: EslClient, options: CacheOptions, key: string): Promise<string> {
  validateCacheKey(key);
  const plan = cacheDeletePlan(options, key);
  if ('unlink' in plan) {
    await unlinkCacheFile(plan.unlink);
    return `unlink ${plan.unlink}`;
  }
  const body = await esl.api(plan.command, { allowErr: true });
  if (body.startsWith('-ERR') && !plan.tolerated.test(body)) throw new EslCommandError(plan.command, body);
  return plan.command;
}
