import { Pool } from 'pg';
import { FusionServersRepository } from '@ictvoip/store';
import { buildEvent, createTestDatabase, loadFusionpbxSchema, postWebhook, seedFusionpbxBasics, startEslStandin, type EslStandin, type TestDatabase } from '@ictvoip/testkit';
import { startBridge, TEMPLATE_DOMAIN, waitFor, type Bridge } from './harness';

// A reseller's bridge with two FusionPBX servers: the default one (environment) and "pbx2" (registry, WHMCS server 2).
const SECOND_ESL_PASSWORD = 'Reseller-Esl-Secret-4410';

let bridge: Bridge;
let fusion2Db: TestDatabase;
let fusion2: Pool;
let esl2: EslStandin;
let registry: FusionServersRepository;

beforeAll(async () => {
  bridge = await startBridge({ JOB_ATTEMPTS: '3' }, { logLevel: 'info' });
  fusion2Db = await createTestDatabase('fusion2');
  await loadFusionpbxSchema(fusion2Db.url);
  fusion2 = new Pool({ connectionString: fusion2Db.url, max: 3 });
  await seedFusionpbxBasics(fusion2, TEMPLATE_DOMAIN);
  esl2 = await startEslStandin({ password: SECOND_ESL_PASSWORD, switchname: 'fs-two.example.net' });
  await bridge.startApi();
  registry = new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing);
  await registry.add({ name: 'pbx2', databaseUrl: fusion2Db.url, eslHost: esl2.host, eslPort: esl2.port, eslPassword: SECOND_ESL_PASSWORD, whmcsServerId: 2 });
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
  await esl2.stop();
  await fusion2.end();
  await fusion2Db.drop();
});

function event(serviceId: number, action: string, server: Record<string, unknown> | null, service: Record<string, unknown> = {}) {
  const base = buildEvent({ serviceId, action });
  if (action !== 'create' && action !== 'change_password') delete base.secrets;
  if (server === null) delete base.server;
  else base.server = server;
  base.service = { ...(base.service as Record<string, unknown>), ...service };
  return base;
}

const send = (body: Record<string, unknown>) => postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
const domainCount = async (pool: Pool, domain: string) => Number((await pool.query('SELECT count(*) AS n FROM v_domains WHERE domain_name = $1', [domain])).rows[0].n);
const inbox = async (eventId: unknown) => (await bridge.api!.deps.pool.query('SELECT status, result FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0];

describe('the same domain name asked for on two servers', () => {
  it('the second service is refused at once, naming the service that holds the name, and nothing is written on its server', async () => {
    const domain = 'acme-shared.example.com';
    expect((await send(event(9301, 'create', null, { domain }))).body).toMatchObject({ result: 'success', serviceProperties: { pbxDomain: domain } });
    const second = event(9302, 'create', { id: 2 }, { domain });
    const reply = await send(second);
    expect(reply.body).toMatchObject({ result: 'error', retryable: false });
    expect(JSON.stringify(reply.body)).toContain('9301');
    const row = await waitFor(async () => {
      const found = await inbox(second.eventId);
      return found?.status === 'failed' ? found : null;
    });
    expect(row.status).toBe('failed');
    // Nothing on pbx2: no domain left behind without a service the bridge tracks.
    expect(await domainCount(fusion2, domain)).toBe(0);
    expect(await domainCount(bridge.fusion, domain)).toBe(1);
  });
});
