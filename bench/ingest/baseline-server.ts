/**
 * The bare baseline for webhook ingest: the least a correct receiver must do — verify the
 * HMAC and timestamp, insert the event into PostgreSQL, add a BullMQ job — with nothing else
 * (no schema validation, no secret sealing, no status bookkeeping, no metrics).
 * Run as a child process by bench/ingest/ingest.bench.ts; env: PORT, DATABASE_URL, REDIS_URL,
 * QUEUE_PREFIX, WEBHOOK_SECRET.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import express from 'express';
import Redis from 'ioredis';
import { Queue } from 'bullmq';
import { Pool } from 'pg';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`baseline server: ${name} is required`);
  return value;
};

const secret = env('WEBHOOK_SECRET');
const pool = new Pool({ connectionString: env('DATABASE_URL'), max: 10 });
const redis = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: null });
const queue = new Queue('provisioning', { connection: redis, prefix: env('QUEUE_PREFIX') });

function signatureValid(timestamp: string | undefined, signature: string | undefined, raw: Buffer): boolean {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(raw).digest();
  const given = Buffer.from(signature.replace(/^v1=/, ''), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function main(): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS baseline_inbox (
    event_id uuid PRIMARY KEY, action text NOT NULL, service_id bigint NOT NULL, payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now())`);
  const app = express();
  app.get('/healthz', (_req, res) => void res.json({ ok: true }));
  app.post('/webhooks/whmcs', express.raw({ type: 'application/json', limit: '256kb' }), async (req, res) => {
    const raw = req.body as Buffer;
    if (!signatureValid(req.get('x-ictvoip-timestamp'), req.get('x-ictvoip-signature'), raw)) return void res.status(401).json({ error: 'signature' });
    const event = JSON.parse(raw.toString('utf8')) as { eventId: string; action: string; service: { id: number } };
    await pool.query('INSERT INTO baseline_inbox (event_id, action, service_id, payload) VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING', [
      event.eventId,
      event.action,
      event.service.id,
      raw.toString('utf8'),
    ]);
    await queue.add(event.action, { eventId: event.eventId, serviceId: event.service.id }, { jobId: `${event.action}-${event.eventId}` });
    res.status(202).json({ result: 'pending', eventId: event.eventId });
  });
  const server = app.listen(Number(env('PORT')), '127.0.0.1');
  server.keepAliveTimeout = 65_000;
  const shutdown = () => {
    server.close();
    server.closeIdleConnections();
    void Promise.allSettled([queue.close(), pool.end()]).then(() => {
      redis.disconnect();
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

void main();
