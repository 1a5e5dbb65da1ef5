/**
 * An unreadable WHMCS balance (CREDIT_UNREADABLE…) alerted to ALERT_WEBHOOK_URL, signed like the
 * other alerts, exactly once per outage: repeated checks, a second outage, a receiver failing, a
 * check that recorded the alert and stopped before sending it (the CLI's check, or a crash), and two
 * workers checking the same client at once. Real PostgreSQL and Redis, the WHMCS stand-in over HTTP.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkClientCredit } from '@ictvoip/operations';
import { TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { verifySignature } from '@ictvoip/whmcs';
import { runCreditCheck } from '../src';
import { waitFor } from './harness';
import { useBillingKit, type Tenant } from './cdr-billing-kit';

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: Record<string, unknown>;
}

let receiver: Server;
const received: Received[] = [];
/** HTTP status the receiver answers with (a failing receiver answers 500). */
let answer = 204;
/** The receiver answers this many more requests with 500, whatever `answer` is. */
let failNext = 0;
/** Requests the receiver got, failed ones included. */
let requests = 0;
/** While set, the receiver answers 307 sending the POST here (an address inside the network). */
let redirectTo: string | null = null;
const ALERT_SIGNING_SECRET = 'alert-signing-secret-of-credit-tests';

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      requests += 1;
      if (redirectTo) {
        res.writeHead(307, { location: redirectTo }).end();
        return;
      }
      const status = failNext > 0 ? 500 : answer;
      failNext = Math.max(0, failNext - 1);
      res.writeHead(status).end();
      if (status < 300) received.push({ headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) as Record<string, unknown> });
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
}, 30000);

// After the receiver's beforeAll: the alert URL is the receiver's port.
const kit = useBillingKit(() => ({
  CREDIT_CACHE_SECONDS: '0',
  CREDIT_UNREADABLE_ALERT_SECONDS: '0',
  ALERT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`,
  ALERT_SIGNING_SECRET,
}));

afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
});

async function prepaidTenant(): Promise<Tenant> {
  const tenant = await kit.addTenant();
  await kit.deps.pool.query(`UPDATE services SET plan = plan || '{"billingMode":"prepaid"}'::jsonb WHERE service_id = $1`, [tenant.serviceId]);
  kit.whmcs.state.clients.get(tenant.clientId)!.credit = '10.00';
  return tenant;
}

const alertsOf = (tenant: Tenant) => received.filter((delivery) => delivery.body.serviceId === tenant.serviceId);
const unreadable = () => kit.whmcs.setFaults([{ mode: 'http_500', percent: 100, actions: ['GetClientsDetails'] }]);
const readable = () => kit.whmcs.setFaults([]);

afterEach(() => {
  readable();
  answer = 204;
});

test('one signed alert per outage: repeated checks add none, a second outage sends a second', async () => {
  const tenant = await prepaidTenant();
  unreadable();
  await runCreditCheck(kit.deps, tenant.clientId);
  await runCreditCheck(kit.deps, tenant.clientId);
  expect(alertsOf(tenant)).toHaveLength(1);
  const [first] = alertsOf(tenant);
  expect(first!.body).toMatchObject({ type: 'credit.unreadable', serviceId: tenant.serviceId, clientId: tenant.clientId, mode: 'open' });
  expect(typeof first!.body.since).toBe('string');
  // Signed like the inbound webhook and the other alerts, with an idempotency key per alert.
  const signedWith = (secret: string) => () =>
    verifySignature({
      secrets: [secret],
      timestampHeader: first!.headers['x-ictvoip-timestamp'] as string,
      signatureHeader: first!.headers['x-ictvoip-signature'] as string,
      rawBody: first!.raw,
    });
  expect(signedWith(ALERT_SIGNING_SECRET)).not.toThrow();
  // Never with WHMCS's secret: a receiver could replay the alert on the bridge's signed routes.
  expect(signedWith(TEST_WEBHOOK_SECRET)).toThrow();
  expect(first!.headers['idempotency-key']).toBe(`credit-alert-${String(first!.body.id)}`);
  expect(JSON.stringify(first!.body)).not.toContain(kit.whmcs.secret);

  readable();
  await runCreditCheck(kit.deps, tenant.clientId);
  unreadable();
  await runCreditCheck(kit.deps, tenant.clientId);
  await runCreditCheck(kit.deps, tenant.clientId);
  expect(alertsOf(tenant)).toHaveLength(2);
  expect(new Set(alertsOf(tenant).map((delivery) => delivery.headers['idempotency-key'])).size).toBe(2);
});

test('a receiver that fails does not fail the check; the next check delivers the alert once', async () => {
  const tenant = await prepaidTenant();
  unreadable();
  answer = 500;
  await expect(runCreditCheck(kit.deps, tenant.clientId)).resolves.toMatchObject({ clientId: tenant.clientId });
  expect(alertsOf(tenant)).toHaveLength(0);
  answer = 204;
  await runCreditCheck(kit.deps, tenant.clientId);
  await runCreditCheck(kit.deps, tenant.clientId);
  expect(alertsOf(tenant)).toHaveLength(1);
  const { rows } = await kit.deps.pool.query<{ sent: boolean }>('SELECT alert_sent_at IS NOT NULL AS sent FROM credit_alerts WHERE service_id = $1', [tenant.serviceId]);
  expect(rows).toEqual([{ sent: true }]);
});

test('a receiver that redirects is a failed delivery: the POST is never sent where the redirect points; delivered once it answers', async () => {
  const inside: string[] = [];
  const internal = createServer((req, res) => {
    inside.push(`${req.method} ${req.url}`);
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', () => resolve()));
  try {
    const tenant = await prepaidTenant();
    unreadable();
    redirectTo = `http://127.0.0.1:${(internal.address() as AddressInfo).port}/internal-admin/flushall`;
    const before = requests;
    await runCreditCheck(kit.deps, tenant.clientId);
    await waitFor(async () => requests > before || null, 10000, 'the redirected delivery');
    expect(alertsOf(tenant)).toHaveLength(0);
    redirectTo = null;
    await runCreditCheck(kit.deps, tenant.clientId);
    await waitFor(async () => alertsOf(tenant).length === 1 || null, 30000, 'the alert once the receiver answers');
    expect(inside).toEqual([]);
  } finally {
    redirectTo = null;
    await new Promise((resolve) => internal.close(resolve));
  }
}, 40000);

test('an alert recorded by a check that never sent it (CLI check, or a crash before the send) is sent by the next worker check; two at once send it once', async () => {
  const tenant = await prepaidTenant();
  unreadable();
  await checkClientCredit(kit.deps, tenant.clientId);
  expect(alertsOf(tenant)).toHaveLength(0);
  readable();
  await Promise.all([runCreditCheck(kit.deps, tenant.clientId), runCreditCheck(kit.deps, tenant.clientId)]);
  expect(alertsOf(tenant)).toHaveLength(1);
  expect(alertsOf(tenant)[0]!.body).toMatchObject({ type: 'credit.unreadable', serviceId: tenant.serviceId });
});

test('a receiver that fails is retried with backoff by the delivery job, without another check of the client; delivered once', async () => {
  const tenant = await prepaidTenant();
  unreadable();
  const before = requests;
  failNext = 2;
  await runCreditCheck(kit.deps, tenant.clientId);
  expect(alertsOf(tenant)).toHaveLength(0);
  // No further check: the queued delivery fails once more, then its backoff retry delivers and marks it sent.
  const sent = async () =>
    (await kit.deps.pool.query<{ sent: boolean }>('SELECT alert_sent_at IS NOT NULL AS sent FROM credit_alerts WHERE service_id = $1', [tenant.serviceId])).rows;
  await waitFor(async () => (await sent())[0]?.sent === true || null, 30000, 'the alert delivered by its retry');
  expect(await sent()).toEqual([{ sent: true }]);
  expect(alertsOf(tenant)).toHaveLength(1);
  expect(requests - before).toBe(3);
}, 40000);
