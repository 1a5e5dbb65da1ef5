import { buildEvent, postWebhook } from '@ictvoip/testkit';
import type { Bridge } from '../../worker/test/harness';

export interface Reply {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** One HTTP call to the running API over loopback. */
export async function call(baseUrl: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = headers['content-type'] ?? 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

/** Creates a tenant the real way: signed webhook → worker → FusionPBX. Returns the job id and domain. */
export async function createTenant(bridge: Bridge, serviceId: number, plan: Record<string, unknown> = {}): Promise<{ jobId: string; domain: string }> {
  const event = buildEvent({ serviceId, plan: { maxExtensions: 3, firstExtension: 100, ...plan } });
  const reply = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' });
  if (reply.body.result !== 'success') throw new Error(`create ${serviceId} failed: ${JSON.stringify(reply.body)}`);
  const { rows } = await bridge.api!.deps.pool.query<{ job_id: string }>('SELECT job_id FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
  return { jobId: rows[0].job_id, domain: (reply.body.serviceProperties as { pbxDomain: string }).pbxDomain };
}

export async function createKey(baseUrl: string, adminToken: string, body: Record<string, unknown>): Promise<string> {
  const reply = await call(baseUrl, 'POST', '/v1/admin/api-keys', { token: adminToken, body });
  if (reply.status !== 201) throw new Error(`key creation failed: ${reply.status} ${reply.text}`);
  return reply.body.token as string;
}
