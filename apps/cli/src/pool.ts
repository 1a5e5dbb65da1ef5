import type { Pool, PoolConfig } from 'pg';
import { bridgeApplicationName, createPool } from '@ictvoip/store';

/** createPool for the CLI: its connections to the bridge database show as `ictvoip-cli` in pg_stat_activity. */
export function cliPool(connectionString: string, options: PoolConfig = {}): Pool {
  return createPool(connectionString, { fallback_application_name: bridgeApplicationName('cli'), ...options });
}

/** A FusionPBX server's database: its name ('default' for FUSIONPBX_DATABASE_URL) and URL. */
export interface FusionDatabase {
  server: string;
  url: string;
}

/** cliPool for a FusionPBX server's database: `ictvoip-cli fs:<server>`, so an operator sees which server it is for. */
export function cliFusionPool(database: FusionDatabase, options: PoolConfig = {}): Pool {
  return createPool(database.url, { fallback_application_name: bridgeApplicationName('cli', database.server), ...options });
}
