import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { countStatementsOn, type StatementLog } from './count-statements';
import { startBridge, type Bridge } from './harness';

/**
 * Issue #20: the statements one create costs on the bridge's own database (inbox, services, backlog,
 * audit), counted on every client of the worker's pool (the API's pool is another). Each is a round
 * trip, and the worker's CPU follows the round trips. The FusionPBX side is counted in
 * packages/fusionpbx/test/provisioning-statements.test.ts.
 */
let bridge: Bridge;
let log: StatementLog;

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  log = countStatementsOn(bridge.worker!.deps.pool);
});
afterAll(async () => {
  await bridge?.close();
});

it('creates a tenant in at most 17 statements on the bridge database (was 21: the final transaction was BEGIN, backlog clear, inbox mark, audit, COMMIT)', async () => {
  log.statements.length = 0;
  log.counting = true;
  const reply = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId: 4901, action: 'create' })), { query: '?wait=20' });
  log.counting = false;
  expect(reply.status).toBe(200);
  expect(reply.body).toMatchObject({ result: 'success' });
  const [inbox] = (await bridge.worker!.deps.pool.query("SELECT status FROM webhook_inbox WHERE service_id = 4901 AND action = 'create'")).rows;
  expect(inbox).toEqual({ status: 'succeeded' });
  const audit = (await bridge.worker!.deps.pool.query("SELECT actor, action, detail->>'freeswitch' AS freeswitch FROM audit_log WHERE service_id = 4901")).rows;
  expect(audit).toEqual([{ actor: 'worker', action: 'create', freeswitch: 'applied' }]);
  if (log.statements.length > 17) throw new Error(`${log.statements.length} statements on the bridge database:\n${log.summary()}`);
  expect(log.statements.length).toBeLessThanOrEqual(17);
});

it("refuses a create of another service's domain with its failed mark, audit entry and notification in one statement, no transaction (9 statements, was 12)", async () => {
  await bridge.worker!.deps.pool.query("INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES (9902, 9, 't4902.pbx.example.net', 'active')");
  log.statements.length = 0;
  log.counting = true;
  const reply = await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId: 4902, action: 'create' })), { query: '?wait=20' });
  log.counting = false;
  expect(reply.status).toBe(200);
  expect(reply.body).toMatchObject({ result: 'error', message: expect.stringContaining('already belongs to service 9902') });
  const [inbox] = (await bridge.worker!.deps.pool.query("SELECT status, retryable, sealed_secrets FROM webhook_inbox WHERE service_id = 4902 AND action = 'create'")).rows;
  expect(inbox).toEqual({ status: 'failed', retryable: false, sealed_secrets: null });
  const audit = (await bridge.worker!.deps.pool.query("SELECT actor, action, detail->>'code' AS code FROM audit_log WHERE service_id = 4902")).rows;
  expect(audit).toEqual([{ actor: 'worker', action: 'create.failed', code: 'TENANT_CONFLICT' }]);
  const transactions = log.statements.filter((sql) => /^\s*(BEGIN|COMMIT)\b/i.test(sql));
  if (transactions.length > 0 || log.statements.length > 9) throw new Error(`${log.statements.length} statements on the bridge database:\n${log.summary()}`);
  expect(log.statements.length).toBeLessThanOrEqual(9);
});
