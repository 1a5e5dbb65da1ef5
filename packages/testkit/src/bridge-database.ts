import { Pool } from 'pg';
// Imported by name but not declared in package.json, like @ictvoip/fusionpbx (fusionpbx-schema.ts):
// @ictvoip/store's own tests depend on this kit.
import { InboxRepository, MIGRATIONS, migrateBridgeDatabase } from '@ictvoip/store';
import { createTemplatedTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database';

/**
 * A new bridge database with every migration applied, copied from a template made once per set of
 * migrations (their SQL is the key): the api and worker a test starts find nothing to migrate, where
 * applying them all took 0.4-0.9 s per test database. Tests of the migrations themselves, or of a
 * database that is not migrated, use `createTestDatabase`.
 */
export function createBridgeTestDatabase(label: string, options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return createTemplatedTestDatabase(label, `bridge-migrations\n${JSON.stringify(MIGRATIONS)}`, migrateInto, options);
}

async function migrateInto(url: string): Promise<void> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    await migrateBridgeDatabase(pool);
  } finally {
    await pool.end();
  }
}

/**
 * The inbox row a WHMCS create leaves when its last attempt failed: the event failed and its sealed
 * service password is wiped (a retry of its job cannot give the tenant admin that password).
 */
export async function recordFailedCreate(inbox: InboxRepository, create: { eventId: string; serviceId: number; jobId: string; error: string }): Promise<void> {
  await inbox.record({
    eventId: create.eventId,
    bodyHash: 'h',
    action: 'create',
    serviceId: create.serviceId,
    clientId: 1,
    payload: { eventId: create.eventId, action: 'create' },
    sealedSecrets: null,
    jobId: create.jobId,
    status: 'queued',
  });
  await inbox.markFailed(create.eventId, create.error, true);
}
