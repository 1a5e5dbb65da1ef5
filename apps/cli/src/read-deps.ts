import type { Pool } from 'pg';
import type { BridgeConfig } from '@ictvoip/config';
import { AuditRepository, FusionServersRepository, assertBridgeDatabaseMigrated, ServicesRepository } from '@ictvoip/store';
import { CliError } from './output';
import { config } from './output';
import { cliPool } from './pool';

/** The parts of the worker's deps a dry-run computes with: both databases, no queue, no event socket, no WHMCS. */
export interface ReadDeps {
  config: BridgeConfig;
  pool: Pool;
  fusionPool: Pool;
  services: ServicesRepository;
  audit: AuditRepository;
}

/** The FusionPBX database URL of the server a service is bound to (the default server's when none). */
export async function fusionUrlFor(pool: Pool, cfg: BridgeConfig, serviceId: number | undefined): Promise<string> {
  if (serviceId === undefined) return cfg.fusionpbx.databaseUrl;
  const server = (await new ServicesRepository(pool).get(serviceId))?.fusionpbxServer ?? null;
  if (server === null) return cfg.fusionpbx.databaseUrl;
  const spec = await new FusionServersRepository(pool, cfg.sealing).spec(server);
  if (!spec || !spec.enabled) throw new CliError('SERVER_UNAVAILABLE', `service ${serviceId} is on FusionPBX server ${server}, which is disabled or not registered`);
  return spec.databaseUrl;
}

/** `serviceId`: the FusionPBX database is that service's own server's. */
export async function withReadDeps<T>(work: (deps: ReadDeps) => Promise<T>, scope: { serviceId?: number } = {}): Promise<T> {
  const cfg = config();
  const pool = cliPool(cfg.database.url, { max: 2 });
  let fusionPool: Pool | null = null;
  try {
    await assertBridgeDatabaseMigrated(pool);
    fusionPool = cliPool(await fusionUrlFor(pool, cfg, scope.serviceId), { max: 2 });
    return await work({ config: cfg, pool, fusionPool, services: new ServicesRepository(pool), audit: new AuditRepository(pool) });
  } finally {
    await Promise.allSettled([pool.end(), fusionPool?.end()]);
  }
}
