import { randomUUID } from 'node:crypto';
import { signBody } from '@ictvoip/whmcs';

export const TEST_WEBHOOK_SECRET = 'test-webhook-secret-0123456789abcdef';

/** A valid `create` event as the WHMCS module sends it; override any part. */
export function buildEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const serviceId = (overrides.serviceId as number | undefined) ?? 1000 + Math.floor(Math.random() * 1_000_000);
  const { serviceId: _ignored, ...rest } = overrides;
  return {
    schemaVersion: 1,
    eventId: randomUUID(),
    action: 'create',
    occurredAt: new Date().toISOString(),
    service: { id: serviceId, pid: 3, domain: '', username: 'admin', status: 'Pending' },
    client: { id: 55, email: 'owner@example.com', companyName: 'Example Ltd', firstName: 'Ada', lastName: 'Lovelace' },
    server: { id: 1, hostname: 'bridge.example.net' },
    plan: { maxExtensions: 3, firstExtension: 100, rateDeck: 'standard', brand: 'default', includedMinutes: 100 },
    configurableOptions: {},
    customFields: {},
    secrets: { servicePassword: 'Adm1n-Pass-Example!' },
    ...rest,
  };
}

export interface SignedPostOptions {
  secret?: string;
  timestamp?: number;
  signature?: string;
  contentType?: string;
  query?: string;
  headers?: Record<string, string>;
  /** Aborts the request (a client that goes away while it waits). */
  signal?: AbortSignal;
}

/** POSTs raw bytes to the webhook, signed like the WHMCS module signs them (unless told otherwise). */
export async function postWebhook(
  baseUrl: string,
  body: string | Buffer,
  options: SignedPostOptions = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const raw = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/json',
    'x-ictvoip-timestamp': String(timestamp),
    'x-ictvoip-signature': options.signature ?? signBody(options.secret ?? TEST_WEBHOOK_SECRET, timestamp, raw),
    ...options.headers,
  };
  const response = await fetch(`${baseUrl}/webhooks/whmcs${options.query ?? ''}`, { method: 'POST', headers, body: raw, signal: options.signal });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
