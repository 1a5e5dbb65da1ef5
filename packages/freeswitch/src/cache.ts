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

/** The command deleteCacheKey would run for `key`, without running it (dry-run). */
export function cacheDeleteCommand(options: CacheOptions, key: string): string {
  if (options.method === 'memcache') return `memcache delete ${key}`;
  if (options.method === 'file-esl') return `lua app/servers/resources/clear_cache.lua delete ${cacheFileName(key)}`;
  return `unlink ${path.join(options.location ?? DEFAULT_CACHE_LOCATION, cacheFileName(key))}`;
}

/** Deletes one key; a key that is already gone counts as success. Returns what was done (for logs/tests). */
export async function deleteCacheKey(esl: EslClient, options: CacheOptions, key: string): Promise<string> {
  validateCacheKey(key);
  if (options.method === 'memcache') {
    const command = cacheDeleteCommand(options, key);
    const body = await esl.api(command, { allowErr: true });
    if (body.startsWith('-ERR') && !/not.?found/i.test(body)) throw new EslCommandError(command, body);
    return command;
  }
  if (options.method === 'file-esl') {
    const command = cacheDeleteCommand(options, key);
    // The script writes nothing to the stream, so FreeSWITCH answers "-ERR no reply".
    const body = await esl.api(command, { allowErr: true });
    if (body.startsWith('-ERR') && !/no reply/i.test(body)) throw new EslCommandError(command, body);
    return command;
  }
  const file = path.join(options.location ?? DEFAULT_CACHE_LOCATION, cacheFileName(key));
  await unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return `unlink ${file}`;
}
