import type { Pool, PoolClient } from 'pg';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, type Bridge } from './harness';

/**
 * Issue #20: the statements one create costs on the bridge's own database (inbox, services, backlog,
 * audit), counted on every client of the worker's pool (the API's pool is another). Each is a round
 * trip, and the worker's CPU follows the round trips. The FusionPBX side is counted in
 * packages/fusionpbx/test/provisioning-statements.test.ts.
 */
let bridge: Bridge;
let counting = false;
const statements: string[] = [];

function countOn(pool: Pool): void {
  const wrapped = new WeakSet<PoolClient>();
  const wrap = (client: PoolClient | undefined) => {
    if (!client || wrapped.has(client)) return client;
    wrapped.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (counting) statements.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text));
      return query(...args);
    };
    return client;
  };
  // pool.query goes through pool.connect(callback) as well: both forms hand out counted clients.
  const connect = pool.connect.bind(pool) as (callback?: (error: Error | undefined, client: PoolClient | undefined, done: unknown) => void) => unknown;
  (pool as unknown as { connect: typeof connect }).connect = (callback) => {
    if (callback) return connect((error, client, done) => callback(error, wrap(client), done));
    return (connect() as Promise<PoolClient>).then(wrap);
  };
}

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  countOn(bridge.worker!.deps.pool);
});
afterAll(async () => {
  await bridge?.close();
});

function summary(): string {
  return statements.map((sql) => sql.replace(/\s+/g, ' ').trim().slice(0, 70)).join('\n');
}

it('creates a tenant in at most 17 statements on the bridge database (was 21: the final transaction was BEGIN, backlog clear, inbox mark, audit, COMMIT)', async () => {
  statements.length = 0;
  counting = true;
  const reply = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId: 4901, action: 'create' })), { query: '?wait=20' });
  counting = false;
  expect(reply.status).toBe(200);
  expect(reply.body).toMatchObject({ result: 'success' });
  const [inbox] = (await bridge.worker!.deps.pool.query("SELECT status FROM webhook_inbox WHERE service_id = 4901 AND action = 'create'")).rows;
  expect(inbox).toEqual({ status: 'succeeded' });
  const audit = (await bridge.worker!.deps.pool.query("SELECT actor, action, detail->>'freeswitch' AS freeswitch FROM audit_log WHERE service_id = 4901")).rows;
  expect(audit).toEqual([{ actor: 'worker', action: 'create', freeswitch: 'applied' }]);
  if (statements.length > 17) throw new Error(`${statements.length} statements on the bridge database:\n${summary()}`);
  expect(statements.length).toBeLessThanOrEqual(17);
});

it("refuses a create of another service's domain with its failed mark, audit entry and notification in one statement, no transaction (9 statements, was 12)", async () => {
  await bridge.worker!.deps.pool.query("INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES (9902, 9, 't4902.pbx.example.net', 'active')");
  statements.length = 0;
  counting = true;
  const reply = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId: 4902, action: 'create' })), { query: '?wait=20' });
  counting = false;
  expect(reply.status).toBe(200);
  expect(reply.body).toMatchObject({ result: 'error', message: expect.stringContaining('already belongs to service 9902') });
  const [inbox] = (await bridge.worker!.deps.pool.query("SELECT status, retryable, sealed_secrets FROM webhook_inbox WHERE service_id = 4902 AND action = 'create'")).rows;
  expect(inbox).toEqual({ status: 'failed', retryable: false, sealed_secrets: null });
  const audit = (await bridge.worker!.deps.pool.query("SELECT actor, action, detail->>'code' AS code FROM audit_log WHERE service_id = 4902")).rows;
  expect(audit).toEqual([{ actor: 'worker', action: 'create.failed', code: 'TENANT_CONFLICT' }]);
  const transactions = statements.filter((sql) => /^\s*(BEGIN|COMMIT)\b/i.test(sql));
  if (transactions.length > 0 || statements.length > 9) throw new Error(`${statements.length} statements on the bridge database:\n${summary()}`);
  expect(statements.length).toBeLessThanOrEqual(9);
});
