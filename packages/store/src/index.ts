export * from './transaction';
export * from './lock-busy';
export * from './migrator';
export { MIGRATIONS } from './migrations';
export * from './inbox-repository';
export * from './services-repository';
export * from './sealed-secrets';

import type { Pool } from 'pg';
import { assertMigrated, migrate } from './migrator';
import { namingDatabaseVariable } from './transaction';
import { MIGRATIONS } from './migrations';

/** Brings the bridge's own database to the latest schema (the first query of every process: a connection failure names DATABASE_URL). */
export function migrateBridgeDatabase(pool: Pool): Promise<string[]> {
  return namingDatabaseVariable('DATABASE_URL', migrate(pool, MIGRATIONS));
}

/**
 * Refuses (SchemaNotMigratedError) a bridge database that is not at the latest schema; reads only.
 * For processes that must not change the schema themselves (the CLI's commands other than migrate).
 */
export function assertBridgeDatabaseMigrated(pool: Pool): Promise<void> {
  return namingDatabaseVariable('DATABASE_URL', assertMigrated(pool, MIGRATIONS));
}
export * from './api-keys-repository';
export * from './billing-period';
export * from './billing-cycle';
export * from './billing-cycles-repository';
export * from './rate-deck-repository';
export * from './rate-deck-revision';
export * from './cdr-charges-repository';
export * from './billing-repository';
export * from './fusion-server-cache';
export * from './currencies-mixed';
export * from './fusion-servers-repository';
export * from './tenant-writes-repository';
export * from './reseal';
export * from './registrations-repository';
export * from './gateway-monitoring-repository';
export * from './credit-repository';
export * from './prepaid-invoices-repository';
export * from './monitoring-alerts-repository';
export * from './monitoring-watch-repository';
