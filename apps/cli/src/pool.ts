import type { Pool, PoolConfig } from 'pg';
import { bridgeApplicationName, createPool } from '@ictvoip/store';

/** createPool for the CLI: its connections, to either database, show as `ictvoip-cli` in pg_stat_activity. */
export function cliPool(connectionString: string, options: PoolConfig = {}): Pool {
  return createPool(connectionString, { fallback_application_name: bridgeApplicationName('cli'), ...options });
}
