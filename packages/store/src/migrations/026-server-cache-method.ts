import type { Migration } from '../migrator';

/**
 * Each registered FusionPBX server may say how its own FusionPBX cache is cleared, instead of the
 * bridge-wide FUSIONPBX_CACHE_METHOD / FUSIONPBX_CACHE_DIR: with `file` there (the bridge on the
 * default server's host, unlinking its own cache files) a remote server's cache was never cleared,
 * and a server on memcache beside a default on files could not be described. NULL follows the
 * bridge-wide setting, so every server registered before this migration behaves as it did. A cache
 * directory belongs to the `file` method only, and that method needs one (the server's cache files
 * as mounted on the bridge's host: there is no sensible default for a server that is not this one).
 */
export const migration026: Migration = {
  version: '026-server-cache-method',
  sql: `
ALTER TABLE fusionpbx_servers
  ADD COLUMN cache_method text CHECK (cache_method IN ('memcache', 'file-esl', 'file')),
  ADD COLUMN cache_dir text,
  ADD CONSTRAINT fusionpbx_servers_cache_dir CHECK (CASE WHEN cache_method = 'file' THEN cache_dir IS NOT NULL ELSE cache_dir IS NULL END);
`,
};
