import { loadConfig } from '@ictvoip/config';
import { startApi, type RunningApi } from '@ictvoip/api';
import { createPool, resealAll } from '@ictvoip/store';
import type { Pool } from 'pg';
import { buildEvent, postWebhook, sealLegacy } from '@ictvoip/testkit';
import { createHmac } from 'node:crypto';
import { canonicalJson } from '@ictvoip/whmcs';
import { startWorker } from '../src';
import { startBridge, waitFor, type Bridge } from './harness';

/**
 * Rotating WEBHOOK_SECRET as the README says: the new secret in WEBHOOK_SECRET with the old one in
 * WEBHOOK_SECRET_PREVIOUS until the WHMCS module has the new one, then the old one removed. Sealed
 * secrets do not depend on it: an event stored before the rotation is applied after it.
 */
const OLD = 'rotation-old-webhook-secret-0123456789';
const NEW = 'rotation-new-webhook-secret-9876543210';
const PASSWORD = 'Rotation-Service-Pass-1!';

let bridge: Bridge;
let api: RunningApi | null = null;
let pool: Pool;

beforeAll(async () => {
  bridge = await startBridge({ WEBHOOK_SECRET: OLD });
  pool = createPool(bridge.bridgeDb.url, { max: 2 });
}, 60000);
afterAll(async () => {
  await api?.close();
  await pool?.end();
  await bridge?.close();
});

const configWith = (env: Record<string, string>) => loadConfig({ ...bridge.env, WEBHOOK_SECRET_PREVIOUS: '', ...env });
async function useApi(env: Record<string, string>): Promise<RunningApi> {
  await api?.close();
  api = await startApi(configWith(env), bridge.logger, { port: 0 });
  return api;
}
const post = (body: Record<string, unknown>, secret: string) => postWebhook(api!.url, JSON.stringify(body), { secret, query: '?wait=0' });
const inbox = async (eventId: string) => (await pool.query('SELECT status, sealed_secrets FROM webhook_inbox WHERE event_id = $1', [eventId])).rows[0];

describe('rotating WEBHOOK_SECRET', () => {
  it('accepts the previous secret while listed, refuses it after, and applies events stored before the rotation', async () => {
    // Before: events stored under the old secret, no worker yet. One as the previous version stored it.
    await useApi({ WEBHOOK_SECRET: OLD });
    const before = buildEvent({ serviceId: 7301, secrets: { servicePassword: PASSWORD } });
    const upgraded = buildEvent({ serviceId: 7302, secrets: { servicePassword: PASSWORD } });
    expect((await post(before, OLD)).status).toBe(202);
    expect((await post(upgraded, OLD)).status).toBe(202);
    const legacyHash = createHmac('sha256', OLD).update(canonicalJson(upgraded)).digest('hex');
    await pool.query('UPDATE webhook_inbox SET sealed_secrets = $2, body_hash = $3 WHERE event_id = $1', [
      upgraded.eventId,
      sealLegacy({ servicePassword: PASSWORD }, OLD),
      legacyHash,
    ]);

    // Step 1: the new secret, the old one still listed (WHMCS may sign with either).
    await useApi({ WEBHOOK_SECRET: NEW, WEBHOOK_SECRET_PREVIOUS: OLD });
    const duringOld = buildEvent({ serviceId: 7303 });
    const duringNew = buildEvent({ serviceId: 7304 });
    expect((await post(duringOld, OLD)).status).toBe(202);
    expect((await post(duringNew, NEW)).status).toBe(202);
    // A repeat of an event stored before the rotation is that event, whichever secret signs it.
    expect([200, 202]).toContain((await post(before, NEW)).status);
    expect([200, 202]).toContain((await post(upgraded, NEW)).status);
    // Values of the format before SEALING_KEY open only with the webhook secret: re-seal them now.
    expect(await resealAll(pool, configWith({ WEBHOOK_SECRET: NEW, WEBHOOK_SECRET_PREVIOUS: OLD }).sealing)).toMatchObject({ unreadable: [] });

    // Step 2: the old secret removed.
    await useApi({ WEBHOOK_SECRET: NEW });
    const refused = await post(buildEvent({ serviceId: 7305 }), OLD);
    expect(refused.status).toBe(401);
    expect([200, 202]).toContain((await post(before, NEW)).status);
    expect((await post(buildEvent({ serviceId: 7306 }), NEW)).status).toBe(202);

    // The worker has only the new secret: every event, stored before or during the rotation, applies.
    const worker = await startWorker(configWith({ WEBHOOK_SECRET: NEW }), bridge.logger, { schedulers: false });
    try {
      for (const event of [before, upgraded, duringOld, duringNew]) {
        await waitFor(async () => (await inbox(event.eventId as string))?.status === 'succeeded', 30000, `event of service ${(event.service as { id: number }).id}`);
      }
    } finally {
      await worker.close();
    }
    const { rows } = await bridge.fusion.query("SELECT domain_name FROM v_domains WHERE domain_name IN ('t7301.pbx.example.net', 't7302.pbx.example.net') ORDER BY 1");
    expect(rows.map((r) => r.domain_name)).toEqual(['t7301.pbx.example.net', 't7302.pbx.example.net']);
  });
});
