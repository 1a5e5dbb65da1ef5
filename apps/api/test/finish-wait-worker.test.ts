import { performance } from 'node:perf_hooks';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import type { FinishListener } from '@ictvoip/store';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { call, createKey } from './v1-helpers';

/**
 * The whole path with a real worker: a create webhook with `?wait=` and a /v1 extension write are
 * answered when the worker's finishing commit notifies them. The fallback poll (a minute) and the
 * write wait (20 s) are so long that without the notification the create would come back `pending`
 * after its 15 s wait and the write `202` after 20 s.
 */
const SERVICE = 6301;

let bridge: Bridge;
let admin: string;

/** How long after the row's finished_at (the database's clock, this host's) the answer arrived. */
async function lateness(sql: string, id: string, answeredAt: number): Promise<number> {
  const { rows } = await bridge.api!.deps.pool.query<{ finished_ms: number }>(`SELECT extract(epoch FROM finished_at) * 1000 AS finished_ms FROM ${sql}`, [id]);
  return answeredAt - Number(rows[0].finished_ms);
}

beforeAll(async () => {
  bridge = await startBridge({ API_WAIT_FALLBACK_POLL_MS: '60000', API_WRITE_WAIT_MS: '20000' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  admin = bridge.config.adminToken;
  const deadline = Date.now() + 10_000;
  // The listener connects once the API listens: until then a wait would poll.
  while (!(bridge.api!.deps.finishes as FinishListener).listening && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}, 60_000);

afterAll(async () => {
  await bridge.close();
});

it('answers a create webhook and a REST write on the worker’s finishing commit', async () => {
  expect((bridge.api!.deps.finishes as FinishListener).listening).toBe(true);
  const event = buildEvent({ serviceId: SERVICE, plan: { maxExtensions: 3, firstExtension: 100 } });
  const created = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=15' });
  const createdAt = Date.now();
  expect(created.body).toMatchObject({ result: 'success', eventId: event.eventId });
  expect(await lateness('webhook_inbox WHERE event_id = $1', event.eventId as string, createdAt)).toBeLessThan(1500);

  const key = await createKey(bridge.url, admin, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  const started = performance.now();
  const write = await call(bridge.url, 'PUT', `/v1/tenants/${SERVICE}/extensions/101`, { token: key, body: { callerIdName: 'Front desk' } });
  const writtenAt = Date.now();
  expect(write.status).toBe(200);
  expect(performance.now() - started).toBeLessThan(10_000);
  const { rows } = await bridge.api!.deps.pool.query<{ write_id: string }>("SELECT write_id FROM tenant_writes WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1");
  expect(await lateness('tenant_writes WHERE write_id = $1', rows[0].write_id, writtenAt)).toBeLessThan(1500);
  expect((bridge.api!.deps.finishes as FinishListener).waiting).toBe(0);
}, 60_000);
