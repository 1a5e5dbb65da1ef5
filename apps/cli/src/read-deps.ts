import type { Pool } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';
import { AuditRepository, createPool, migrateBridgeDatabase, ServicesRepository } from '@ictvoip/store';
import { config } from './output';

/** The parts of the worker's deps a dry-run computes with: both databases, no queue, no event socket, no WHMCS. */
export interface ReadDeps {
  config: BridgeConfig;
  pool: Pool;
  fusionPool: Pool;
  services: ServicesRepository;
  audit: AuditRepository;
}

export async function withReadDeps<T>(work: (deps: ReadDeps) => Promise<T>): Promise<T> {
  const cfg = config();
  const pool = createPool(cfg.database.url, { max: 2 });
  const fusionPool = createPool(cfg.fusionpbx.databaseUrl, { max: 2 });
  try {
    await migrateBridgeDatabase(pool);
    return await work({ config: cfg, pool, fusionPool, services: new ServicesRepository(pool), audit: new AuditRepository(pool) });
  } finally {
    await Promise.allSettled([pool.end(), fusionPool.end()]);
  }
}
