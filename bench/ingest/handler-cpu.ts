/**
 * CPU cost of each pure step of the webhook handler (no I/O), per request, in µs: shows where the
 * API spends its time before it touches PostgreSQL or Redis. `npx tsx bench/ingest/handler-cpu.ts`
 */
import { createHmac, randomUUID } from 'node:crypto';
import { parseTenantCommand, parseWebhookEvent, redactEvent, signBody, verifySignature } from '@ictvoip/whmcs';
import { sealSecrets } from '@ictvoip/store';
import { buildEvent, TEST_WEBHOOK_SECRET, testKeyring } from '@ictvoip/testkit';

const N = Number(process.env.N ?? 20_000);
const bodies = Array.from({ length: N }, (_, i) => JSON.stringify(buildEvent({ serviceId: 1000 + i })));
const ts = Math.floor(Date.now() / 1000);
const sigs = bodies.map((b) => signBody(TEST_WEBHOOK_SECRET, ts, b));
const raws = bodies.map((b) => Buffer.from(b));

function measure(name: string, work: (i: number) => unknown): void {
  for (let i = 0; i < Math.min(N, 2000); i += 1) work(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i += 1) work(i);
  const us = Number(process.hrtime.bigint() - start) / 1e3 / N;
  process.stdout.write(`${name.padEnd(34)} ${us.toFixed(1)} µs\n`);
}

const parsed = bodies.map((b) => JSON.parse(b) as unknown);
const events = parsed.map((p) => parseWebhookEvent(p));
measure('verifySignature', (i) => verifySignature({ secrets: [TEST_WEBHOOK_SECRET], timestampHeader: String(ts), signatureHeader: sigs[i], rawBody: raws[i] }));
measure('JSON.parse', (i) => JSON.parse(bodies[i]));
measure('parseWebhookEvent (compiled check)', (i) => parseWebhookEvent(parsed[i]));
// What the route calls: the event checked, the command built (options folded in), the plan's limits and billing fields checked.
measure('parseTenantCommand', (i) => parseTenantCommand(parsed[i]));
// apps/api hashes its own canonical JSON (not exported); JSON.stringify is a lower bound of that step.
measure('JSON.stringify + HMAC (body hash, lower bound)', (i) => createHmac('sha256', TEST_WEBHOOK_SECRET).update(JSON.stringify(parsed[i])).digest('hex'));
const keyring = testKeyring(['bench']);
measure('sealSecrets (AES-GCM)', () => sealSecrets({ servicePassword: 'Adm1n-Pass-Example!' }, keyring));
measure('redactEvent', (i) => redactEvent(events[i]));
measure('randomUUID (request id)', () => randomUUID());
