import type { Pool } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';
import { AuditRepository, DEFAULT_FUSION_SERVER, FusionServersRepository, assertBridgeDatabaseMigrated, ServicesRepository } from '@ictvoip/store';
import { CliError } from './output';
import { config } from './output';
import { cliFusionPool, cliPool, type FusionDatabase } from './pool';

/** The parts of the worker's deps a dry-run computes with: both databases, no queue, no event socket, no WHMCS. */
export interface ReadDeps {
  config: BridgeConfig;
  pool: Pool;
  fusionPool: Pool;
  services: ServicesRepository;
  audit: AuditRepository;
}

/** The default FusionPBX server's database (FUSIONPBX_DATABASE_URL). */
export function defaultFusionDatabase(cfg: BridgeConfig): FusionDatabase {
  return { server: DEFAULT_FUSION_SERVER, url: cfg.fusionpbx.databaseUrl };
}

/** The FusionPBX database of the server a service is bound to (the default server's when none). */
export async function fusionDatabaseFor(pool: Pool, cfg: BridgeConfig, serviceId: number | undefined): Promise<FusionDatabase> {
  if (serviceId === undefined) return defaultFusionDatabase(cfg);
  const server = (await new ServicesRepository(pool).get(serviceId))?.fusionpbxServer ?? null;
  if (server === null) return defaultFusionDatabase(cfg);
  const spec = await new FusionServersRepository(pool, cfg.sealing).spec(server);
  if (!spec || !spec.enabled) throw new CliError('SERVER_UNAVAILABLE', `service ${serviceId} is on FusionPBX server ${server}, which is disabled or not registered`);
  return { server, url: spec.databaseUrl };
}

/** `serviceId`: the FusionPBX database is that service's own server's. */
export async function withReadDeps<T>(work: (deps: ReadDeps) => Promise<T>, scope: { serviceId?: number } = {}): Promise<T> {
  const cfg = config();
  const pool = cliPool(cfg.database.url, { max: 2 });
  let fusionPool: Pool | null = null;
  try {
    await assertBridgeDatabaseMigrated(pool);
    fusionPool = cliFusionPool(await fusionDatabaseFor(pool, cfg, scope.serviceId), { max: 2 });
    return await work({ config: cfg, pool, fusionPool, services: new ServicesRepository(pool), audit: new AuditRepository(pool) });
  } finally {
    await Promise.allSettled([pool.end(), fusionPool?.end()]);
  }
}
