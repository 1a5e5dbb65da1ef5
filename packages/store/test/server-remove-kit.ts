import type { Pool } from 'pg';
import { createTestDatabase, testKeyring, type TestDatabase } from '@ictvoip/testkit';
import { createPool, FusionServersRepository, GatewayMonitoringRepository, migrateBridgeDatabase, RegistrationsRepository, type GatewayObservation } from '@ictvoip/store';
import { TENANT_DOMAIN, upGateway } from './gateway-observation';

// The set-up the server-removal tests share: a bridge database of their own with one registered server,
// its poll rows emptied before each test (a failed test leaves its server and rows).

export const SERVER = 'pbx2';
export const DOMAIN = TENANT_DOMAIN;
export const T0 = Date.parse('2026-03-02T10:00:00Z');

export interface ServerRemoveDatabase {
  readonly pool: Pool;
  readonly registry: FusionServersRepository;
  readonly registrations: RegistrationsRepository;
  readonly gateways: GatewayMonitoringRepository;
}

/** Registers the hooks (beforeAll, beforeEach, afterAll) and returns the database's handles, set once beforeAll ran. */
export function useServerRemoveDatabase(prefix: string): ServerRemoveDatabase {
  let db: TestDatabase | undefined;
  let handles: ServerRemoveDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(prefix);
    const pool = createPool(db.url, { max: 6 });
    await migrateBridgeDatabase(pool);
    handles = {
      pool,
      registry: new FusionServersRepository(pool, testKeyring(['k1'])),
      registrations: new RegistrationsRepository(pool),
      gateways: new GatewayMonitoringRepository(pool),
    };
  });
  beforeEach(async () => {
    const { pool, registry } = started();
    await pool.query('TRUNCATE registrations, registration_history, registration_servers, gateway_states, gateway_history');
    await pool.query('DELETE FROM fusionpbx_servers WHERE name = $1', [SERVER]);
    await registry.add({
      name: SERVER,
      databaseUrl: 'postgres://pbx@db.pbx2.example.net:5432/fusionpbx',
      eslHost: 'fs.pbx2.example.net',
      eslPort: 8021,
      eslPassword: 'Esl-Secret',
    });
  });
  afterAll(async () => {
    await handles?.pool.end();
    await db?.drop();
  });
  const started = (): ServerRemoveDatabase => {
    if (!handles) throw new Error('the server-removal database is used before its beforeAll ran');
    return handles;
  };
  return {
    get pool() {
      return started().pool;
    },
    get registry() {
      return started().registry;
    },
    get registrations() {
      return started().registrations;
    },
    get gateways() {
      return started().gateways;
    },
  };
}

/** A gateway of SERVER's tenant, registered and up, seen at `at`. */
export const gatewayObservation = (uuid: string, at: number): GatewayObservation => upGateway(SERVER, uuid, at);
