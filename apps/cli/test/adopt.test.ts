import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import {
  createBridgeTestDatabase,
  createFusionpbxTestDatabase,
  startWhmcsStandin,
  TEST_REDIS_URL,
  uniqueQueuePrefix,
  type TestDatabase,
  type WhmcsStandin,
} from '@ictvoip/testkit';
import { databaseDigest, runCli, type CliRun } from './run-cli';

// `ictvoip adopt` through the real binary: the flags, one progress line per service on stderr, the
// summary, and --apply (the operations logic itself: apps/worker/test/ictvoip-adopt.test.ts).
jest.setTimeout(180_000);

let bridgeDb: TestDatabase;
let fusionDb: TestDatabase;
let bridge: Pool;
let fusion: Pool;
let standin: WhmcsStandin;
let env: Record<string, string>;
const cli = (...args: string[]): Promise<CliRun> => runCli(env, args);

beforeAll(async () => {
  // The bridge database migrated (a copy of the kit's template): `ictvoip migrate` itself is cli.test's and migrate-required's.
  [bridgeDb, fusionDb] = await Promise.all([createBridgeTestDatabase('cli_adopt'), createFusionpbxTestDatabase('cli_adopt_fusion')]);
  bridge = new Pool({ connectionString: bridgeDb.url, max: 2 });
  fusion = new Pool({ connectionString: fusionDb.url, max: 2 });
  standin = await startWhmcsStandin();
  env = {
    NODE_ENV: 'test',
    DATABASE_URL: bridgeDb.url,
    FUSIONPBX_DATABASE_URL: fusionDb.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniqueQueuePrefix('cli'),
    WHMCS_API_URL: standin.url,
    WHMCS_API_IDENTIFIER: standin.identifier,
    WHMCS_API_SECRET: standin.secret,
    LOG_LEVEL: 'silent',
  };
  const client = standin.addClient();
  await fusion.query("insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, 'a.ictvoip.test', 'true')", [randomUUID()]);
  standin.addService({ id: 8101, clientid: client.id, pid: 5, domain: 'a.ictvoip.test | 5192229000' });
  standin.addService({ id: 8102, clientid: client.id, pid: 5, domain: 'nowhere.ictvoip.test' });
});

afterAll(async () => {
  await standin?.close();
  await Promise.allSettled([bridge?.end(), fusion?.end()]);
  await Promise.allSettled([bridgeDb?.drop(), fusionDb?.drop()]);
});

describe('ictvoip adopt', () => {
  it('names a missing --cdr-from or --pid', async () => {
    const noDate = await cli('adopt', '--pid', '5');
    expect(noDate.code).not.toBe(0);
    expect(noDate.stderr).toContain('--cdr-from is required');
    const noPid = await cli('adopt', '--cdr-from', '2026-12-01');
    expect(noPid.stderr).toContain('--pid');
  });

  it('dry run by default: a line per service, a summary, nothing written; --apply adopts', async () => {
    const before = [await databaseDigest(bridge), await databaseDigest(fusion)];
    const dry = await cli('adopt', '--pid', '5', '--cdr-from', '2026-12-01');
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain('service 8101\ta.ictvoip.test\twould-adopt');
    expect(dry.stderr).toContain('service 8102\tnowhere.ictvoip.test\tskipped: no FusionPBX domain nowhere.ictvoip.test on server default');
    expect(dry.stdout).toContain('2 service(s): 1 would be adopted (plan gateway taken over: 0), 1 skipped (no-domain 1); dry run, nothing written (--apply to adopt)');
    expect([await databaseDigest(bridge), await databaseDigest(fusion)]).toEqual(before);

    const applied = await cli('adopt', '--pid', '5', '--cdr-from', '2026-12-01', '--apply', '--json');
    expect(applied.code).toBe(0);
    expect(applied.json).toMatchObject({ apply: true, adopted: 1, skipped: 1, cdrFrom: '2026-12-01T00:00:00.000Z' });
    const { rows } = await bridge.query('SELECT tenant_domain, cdr_billing_from FROM services WHERE service_id = 8101 AND adopted_at IS NOT NULL');
    expect(rows).toEqual([{ tenant_domain: 'a.ictvoip.test', cdr_billing_from: new Date('2026-12-01T00:00:00Z') }]);
  });
});
