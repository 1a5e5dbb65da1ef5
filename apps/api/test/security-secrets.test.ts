import { signBody } from '@ictvoip/whmcs';
import { buildEvent, postWebhook, type EslStandin } from '@ictvoip/testkit';
import type { RunningApi } from '../src';
import { startBridge, type Bridge } from '../../worker/test/harness';

const SECRETS = {
  webhook: 'secret-webhook-value-a1b2c3d4e5f6',
  previousWebhook: 'secret-previous-webhook-f6e5d4c3b2a1',
  admin: 'secret-admin-token-9z8y7x6w5v',
  esl: 'SecretEslPw-31337',
  servicePassword: 'Secret-Service-Pass-Q1w2E3!',
  newServicePassword: 'Secret-New-Pass-R4t5Y6!',
  sealingKey: Buffer.from('Secret-Sealing-Key-32-bytes-long').toString('base64'),
};

let bridge: Bridge;
let esl: EslStandin;
let api: RunningApi;
let logLines: string[] = [];
/** Every response body and header block this file received. */
const bodies: string[] = [];

beforeAll(async () => {
  bridge = await startBridge(
    {
      WEBHOOK_SECRET: SECRETS.webhook,
      WEBHOOK_SECRET_PREVIOUS: SECRETS.previousWebhook,
      SEALING_KEY: `sec:${SECRETS.sealingKey}`,
      ADMIN_TOKEN: SECRETS.admin,
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: '50',
      LOG_LEVEL: 'trace',
    },
    { eslPassword: SECRETS.esl, logLevel: 'trace' },
  );
  api = await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  ({ esl, logLines } = bridge);
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

async function capture(path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const reply = await fetch(`${api.url}${path}`, init);
  const text = await reply.text();
  bodies.push(`${reply.status} ${JSON.stringify([...reply.headers])} ${text}`);
  return { status: reply.status, text };
}

async function signedPost(body: string, secret = SECRETS.webhook, query = '') {
  const reply = await postWebhook(api.url, body, { secret, query });
  bodies.push(`${reply.status} ${JSON.stringify([...reply.headers])} ${JSON.stringify(reply.body)}`);
  return reply;
}

function expectNoSecretAnywhere(): void {
  const everything = [...logLines, ...bodies].join('\n');
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(everything.includes(value) ? `${name} leaked` : 'clean').toBe('clean');
  }
}

describe('secrets never appear in a log line or a response', () => {
  it('a create and a change_password, answered and applied', async () => {
    const serviceId = 990_001;
    const created = await signedPost(JSON.stringify(buildEvent({ serviceId, secrets: { servicePassword: SECRETS.servicePassword } })), SECRETS.webhook, '?wait=20');
    expect(created.body.result).toBe('success');
    const changed = await signedPost(
      JSON.stringify(buildEvent({ serviceId, action: 'change_password', secrets: { servicePassword: SECRETS.newServicePassword } })),
      SECRETS.previousWebhook,
      '?wait=20',
    );
    expect(changed.body.result).toBe('success');
    expectNoSecretAnywhere();
  });

  it('refused and invalid requests (wrong secret, bad body, password on a suspend, conflict)', async () => {
    const event = buildEvent({ secrets: { servicePassword: SECRETS.servicePassword } });
    expect((await signedPost(JSON.stringify(event), 'not-the-secret-0000000000000000')).status).toBe(401);
    expect((await signedPost(JSON.stringify({ ...event, action: 'suspend' }))).status).toBe(400);
    expect((await signedPost(JSON.stringify({ ...event, secrets: { servicePassword: SECRETS.servicePassword, extra: SECRETS.servicePassword } }))).status).toBe(400);
    expect((await signedPost(JSON.stringify({ ...event, client: 'nope', secrets: { servicePassword: [SECRETS.servicePassword] } }))).status).toBe(400);
    expect((await signedPost(`{"secrets":{"servicePassword":"${SECRETS.servicePassword}"`)).status).toBe(400);
    expect((await signedPost(JSON.stringify(event))).status).toBe(202);
    expect((await signedPost(JSON.stringify({ ...event, secrets: { servicePassword: SECRETS.newServicePassword } }))).status).toBe(409);
    expectNoSecretAnywhere();
  });

  it('event status, admin refusals and admin pages (Bull Board shows job data)', async () => {
    const event = buildEvent({ secrets: { servicePassword: SECRETS.servicePassword } });
    await signedPost(JSON.stringify(event));
    const ts = Math.floor(Date.now() / 1000);
    await capture(`/webhooks/whmcs/events/${event.eventId}`, { headers: { 'x-ictvoip-timestamp': String(ts), 'x-ictvoip-signature': signBody(SECRETS.webhook, ts, '') } });
    expect((await capture('/admin/queues/api/queues', { headers: { authorization: `Bearer ${SECRETS.admin.slice(0, -1)}` } })).status).toBe(401);
    expect((await capture('/admin/queues/api/queues', { headers: { authorization: `Basic ${Buffer.from(`admin:${SECRETS.admin}x`).toString('base64')}` } })).status).toBe(401);
    const board = await capture('/admin/queues/api/queues?activeQueue=provisioning&status=latest', { headers: { authorization: `Bearer ${SECRETS.admin}` } });
    expect(board.status).toBe(200);
    expect(board.text).toContain(String(event.eventId));
    await capture('/admin/queues', { headers: { authorization: `Bearer ${SECRETS.admin}` } });
    await capture('/readyz');
    await capture('/metrics');
    await capture('/openapi.json');
    expectNoSecretAnywhere();
  });

  it('the event socket refusing the password (errors logged, readiness down) shows no password', async () => {
    // Restart the stand-in with another password: every (already authenticated) connection is cut.
    await esl.stop();
    esl.password = 'another-password';
    await esl.start();
    try {
      const failing = await signedPost(JSON.stringify(buildEvent({ serviceId: 990_002 })), SECRETS.webhook, '?wait=6');
      expect(failing.status).toBeLessThan(500);
      const ready = await capture('/readyz');
      // The event socket is advisory: webhooks are still taken, so the API stays in the load balancer.
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.text)).toMatchObject({ status: 'degraded', checks: { eventSocket: { status: 'down' } } });
      expect(logLines.some((line) => /auth|denied|invalid|ESL|event socket/i.test(line))).toBe(true);
    } finally {
      await esl.stop();
      esl.password = SECRETS.esl;
      await esl.start();
    }
    expectNoSecretAnywhere();
  });

  it('API keys (full tokens) appear in no log line and no response but the one that created them', async () => {
    const adminAuth = { authorization: `Bearer ${SECRETS.admin}`, 'content-type': 'application/json' };
    const mint = async (body: Record<string, unknown>): Promise<{ id: string; token: string }> => {
      // The creation reply is the one place a token is shown: kept out of `bodies` on purpose.
      const reply = await fetch(`${api.url}/v1/admin/api-keys`, { method: 'POST', headers: adminAuth, body: JSON.stringify(body) });
      const created = (await reply.json()) as { key: { id: string | number }; token: string };
      expect(reply.status).toBe(201);
      return { id: String(created.key.id), token: created.token };
    };
    const tenantKey = await mint({ name: 'secrets rw', scope: 'tenant', serviceId: 990_001, access: 'read-write' });
    const readKey = await mint({ name: 'secrets ro', scope: 'tenant', serviceId: 990_001, access: 'read' });
    const adminKey = await mint({ name: 'secrets admin', scope: 'admin' });
    const revoked = await mint({ name: 'secrets revoked', scope: 'tenant', serviceId: 990_001, access: 'read-write' });
    const tokens = [tenantKey.token, readKey.token, adminKey.token, revoked.token];
    const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    expect((await capture(`/v1/admin/api-keys/${revoked.id}`, { method: 'DELETE', headers: bearer(adminKey.token) })).status).toBeLessThan(300);
    // Used well, refused, malformed, echoed back in bodies and paths, listed: every answer is captured.
    expect((await capture('/v1/tenants/990001', { headers: bearer(tenantKey.token) })).status).toBe(200);
    expect((await capture('/v1/tenants/990001/extensions', { headers: bearer(readKey.token) })).status).toBe(200);
    expect((await capture('/v1/tenants/990001/extensions/100', { method: 'PUT', headers: bearer(readKey.token), body: JSON.stringify({ callerIdName: 'x' }) })).status).toBe(403);
    expect((await capture('/v1/admin/api-keys', { headers: bearer(tenantKey.token) })).status).toBe(403);
    expect((await capture('/v1/tenants/990001', { headers: bearer(revoked.token) })).status).toBe(401);
    expect((await capture('/v1/tenants/990001', { headers: bearer(`${tenantKey.token}x`) })).status).toBe(401);
    expect((await capture('/v1/tenants/990001', { headers: bearer(tenantKey.token.slice(0, -1)) })).status).toBe(401);
    expect((await capture('/v1/tenants/990001', { headers: { authorization: `Basic ${Buffer.from(`${tenantKey.token}:${tenantKey.token}`).toString('base64')}` } })).status).toBe(
      401,
    );
    expect((await capture('/v1/tenants/990001', { headers: { authorization: tenantKey.token } })).status).toBe(401);
    // Values only: an unknown field is named in the answer (that is the path of the problem), its value never.
    const echoed: Record<string, string> = {
      voicemailEmail: tenantKey.token,
      callerIdNumber: tenantKey.token,
      description: `a\n${tenantKey.token}`,
      notAField: tenantKey.token,
      outboundCallerIdName: `x fails to match ${tenantKey.token}\u0001`,
    };
    expect(
      (await capture('/v1/tenants/990001/extensions', { method: 'POST', headers: bearer(tenantKey.token), body: JSON.stringify({ extension: tenantKey.token, ...echoed }) }))
        .status,
    ).toBe(400);
    expect((await capture('/v1/tenants/990001/extensions/100', { method: 'PUT', headers: bearer(tenantKey.token), body: JSON.stringify(echoed) })).status).toBe(400);
    expect((await capture('/v1/tenants/990001/gateways', { method: 'POST', headers: bearer(tenantKey.token), body: `{"name":"${tenantKey.token}",` })).status).toBe(400);
    expect(
      (
        await capture('/v1/admin/api-keys', {
          method: 'POST',
          headers: bearer(adminKey.token),
          body: JSON.stringify({ name: tenantKey.token, scope: 'nope', serviceId: tenantKey.token }),
        })
      ).status,
    ).toBe(400);
    const listed = await capture('/v1/admin/api-keys', { headers: bearer(adminKey.token) });
    expect(listed.status).toBe(200);
    expect(listed.text).toContain('secrets rw');
    await capture('/metrics');
    const everything = [...logLines, ...bodies].join('\n');
    for (const [index, token] of tokens.entries()) {
      const where = [...logLines, ...bodies].find((line) => line.includes(token));
      expect(where ? `token ${index} leaked: ${where.replaceAll(token, '<TOKEN>').slice(-700)}` : 'clean').toBe('clean');
    }
    // The secret half alone (after the public prefix) must not appear either.
    for (const [index, token] of tokens.entries()) {
      const secretPart = token.split('_').slice(2).join('_');
      expect(secretPart.length).toBeGreaterThan(16);
      expect(everything.includes(secretPart) ? `secret part of token ${index} leaked` : 'clean').toBe('clean');
    }
    expectNoSecretAnywhere();
  });

  it('secrets are not stored in clear in the inbox, the services table, the audit log or job data', async () => {
    const stored = await api.deps.pool.query(
      `SELECT (SELECT json_agg(w) FROM webhook_inbox w)::text || (SELECT json_agg(s) FROM services s)::text || (SELECT json_agg(a) FROM audit_log a)::text AS text`,
    );
    const jobs = await api.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    const everything = stored.rows[0].text + JSON.stringify(jobs.map((job) => [job.data, job.returnvalue, job.failedReason]));
    for (const value of Object.values(SECRETS)) expect(everything.includes(value)).toBe(false);
    expect(jobs.length).toBeGreaterThan(0);
  });
});
