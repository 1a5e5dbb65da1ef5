import { Pool } from 'pg';
import { type EslStandin, type FusionpbxBasics, type TestDatabase, createFusionpbxTestDatabase, seedFusionpbxBasics, startEslStandin } from '@ictvoip/testkit';
import { randomUUID } from 'node:crypto';
import { createProvisioner, type Provisioner, type ProvisionerOptions } from '@ictvoip/fusionpbx';
import { EslClient } from '@ictvoip/freeswitch';
import { EventValidationError, parseTenantCommand, type TenantCommand, type WebhookEvent } from '@ictvoip/whmcs';

export interface FusionpbxTestDb {
  db: TestDatabase;
  pool: Pool;
  basics: FusionpbxBasics;
  schemaLabel: string;
  close(): Promise<void>;
}

/** A fresh database with the FusionPBX schema (fixture or FUSIONPBX_SCHEMA) and the install basics. */
export async function setupFusionpbx(label: string): Promise<FusionpbxTestDb> {
  const db = await createFusionpbxTestDatabase(label);
  const pool = new Pool({ connectionString: db.url, max: 6 });
  const basics = await seedFusionpbxBasics(pool);
  return {
    db,
    pool,
    basics,
    schemaLabel: db.label,
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

/** Every row of every v_* table, ordered, as JSON-able data: "nothing changed" means equal dumps. */
export async function dumpTables(pool: Pool): Promise<Record<string, unknown[]>> {
  const { rows: tables } = await pool.query<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = current_schema() and table_name like 'v\\_%' order by table_name",
  );
  const dump: Record<string, unknown[]> = {};
  for (const { table_name: table } of tables) {
    const { rows } = await pool.query(`select * from ${table}`);
    const serialised = rows.map((row) => JSON.stringify(row)).sort();
    if (serialised.length > 0) dump[table] = serialised;
  }
  return dump;
}

export const BRAND = {
  default: [
    { subcategory: 'logo', value: 'https://brand.example.net/logo.png' },
    { subcategory: 'title', value: 'Example Voice' },
    { subcategory: 'favicon', value: 'https://brand.example.net/favicon.ico' },
    { subcategory: 'login_background_color', type: 'array' as const, value: '#102030' },
  ],
  plans: { gold: [{ subcategory: 'title', value: 'Gold Voice' }] },
};

export function testOptions(basics: FusionpbxBasics): ProvisionerOptions {
  return {
    baseDomain: 'pbx.example.net',
    domainPrefix: 't',
    templateDomain: basics.templateDomainName,
    brand: BRAND,
    gatewayTemplates: {
      trunk: { proxy: 'sip.carrier.example.org', register: true, username: 'acct-1', password: 'trunk-secret-1', profile: 'external' },
      trunk2: { name: 'trunk', proxy: 'sip2.carrier.example.org', register: true, username: 'acct-2', password: 'trunk-secret-2', profile: 'external' },
    },
  };
}

export interface TenantEventOverrides {
  service?: Partial<WebhookEvent['service']>;
  configurableOptions?: Record<string, unknown>;
  secrets?: { servicePassword?: string };
}

/**
 * A create command as the webhook route builds it: validated by parseTenantCommand (the provisioner
 * reads it without checking again what ingest checked), configurable options folded into the plan.
 * Without a password (`secrets: {}`) it is a change_package's command, the only kind ingest takes
 * without one (a create needs secrets.servicePassword); the provisioner reads its own call's action.
 */
export function tenantEvent(serviceId: number, overrides: TenantEventOverrides = {}, plan: Record<string, unknown> = {}): TenantCommand {
  const secrets = overrides.secrets ?? { servicePassword: 'Portal-Pass-1!' };
  const withPassword = secrets.servicePassword !== undefined;
  return parseTenantCommand({
    schemaVersion: 1,
    eventId: randomUUID(),
    action: withPassword ? 'create' : 'change_package',
    occurredAt: new Date().toISOString(),
    service: { id: serviceId, username: 'owner', ...(overrides.service ?? {}) },
    client: { id: 7, email: 'owner@customer.example.com', companyName: 'Customer Ltd' },
    plan: { maxExtensions: 3, firstExtension: 100, gatewayTemplate: 'trunk', brand: 'gold', ...plan },
    configurableOptions: overrides.configurableOptions ?? {},
    ...(withPassword ? { secrets } : {}),
  });
}

/** The fields ingest (parseTenantCommand, the webhook's 400) names when it refuses the event `build` makes; fails when it accepts it. */
export function refusedAtIngest(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof EventValidationError) return error.details.map((detail) => detail.path);
    throw error;
  }
  throw new Error('ingest accepted the event');
}

/** What every provisioning test file runs against: a FusionPBX database, a provisioner, an ESL stand-in and a client. */
export interface ProvisioningSuite {
  fx: FusionpbxTestDb;
  provisioner: Provisioner;
  standin: EslStandin;
  esl: EslClient;
}

/** Registers the file's beforeAll/afterAll; the returned object is filled before the first test runs. */
export function provisioningSuite(label: string, commandTimeoutMs: number): ProvisioningSuite {
  const suite = {} as ProvisioningSuite;
  beforeAll(async () => {
    suite.fx = await setupFusionpbx(label);
    suite.provisioner = createProvisioner({ pool: suite.fx.pool, options: testOptions(suite.fx.basics) });
    suite.standin = await startEslStandin();
    suite.esl = new EslClient({ host: suite.standin.host, port: suite.standin.port, password: 'ClueCon', commandTimeoutMs, reconnectAttempts: 2, reconnectInitialDelayMs: 20 });
  });
  afterAll(async () => {
    await suite.esl?.close();
    await suite.standin?.stop();
    await suite.fx?.close();
  });
  return suite;
}
