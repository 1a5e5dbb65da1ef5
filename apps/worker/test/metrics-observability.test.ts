import { Writable } from 'node:stream';
import { createLogger } from '@ictvoip/config';
import { buildEvent, freePort, postWebhook } from '@ictvoip/testkit';
import { logRecords, startBridge, waitFor, type Bridge } from './harness';

/** Prometheus text → value of the sample whose name and labels all match (labels given as a subset). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) return Number(match[3]);
  }
  return null;
}

const scrape = async (url: string) => {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
};

let bridge: Bridge;
let workerMetricsUrl: string;

beforeAll(async () => {
  bridge = await startBridge({ WORKER_METRICS_PORT: String(await freePort()) });
  await bridge.startApi();
  const worker = await bridge.startWorker({ schedulers: false });
  workerMetricsUrl = worker.metricsUrl!;
});
afterAll(async () => {
  await bridge.close();
});
afterEach(() => {
  bridge.esl.failures.length = 0;
});

function event(serviceId: number, action: string) {
  const body = buildEvent({ serviceId, action });
  if (action !== 'create' && action !== 'change_password') delete body.secrets;
  return body;
}

describe('metrics', () => {
  it('the worker listens on WORKER_METRICS_PORT and answers 404 elsewhere', async () => {
    expect(workerMetricsUrl).toBe(`http://127.0.0.1:${bridge.config.worker.metricsPort}/metrics`);
    expect((await fetch(workerMetricsUrl.replace('/metrics', '/other')).then(async (res) => (await res.body?.cancel(), res))).status).toBe(404);
  });

  it('counts webhook outcomes, job durations, FusionPBX and event-socket calls, inbox states and queue depth', async () => {
    const serviceId = 5201;
    const reply = await postWebhook(bridge.url, JSON.stringify(event(serviceId, 'create')), { query: '?wait=20' });
    expect(reply.body.result).toBe('success');
    const bad = await postWebhook(bridge.url, JSON.stringify({ ...event(serviceId, 'suspend'), service: { id: 'x' } }));
    expect(bad.status).toBe(400);

    const api = await scrape(`${bridge.url}/metrics`);
    expect(sample(api, 'ictvoip_webhook_responses_total', { action: 'create', status: '200' })).toBe(1);
    expect(sample(api, 'ictvoip_webhook_responses_total', { action: 'unknown', status: '400' })).toBe(1);
    const { rows } = await bridge.api!.deps.pool.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM webhook_inbox GROUP BY status');
    for (const row of rows) expect(sample(api, 'ictvoip_inbox_events', { status: row.status })).toBe(row.n);
    expect(sample(api, 'ictvoip_pending_apply_services')).toBe(0);
    expect(sample(api, 'ictvoip_queue_jobs', { queue: 'provisioning', state: 'waiting' })).toBe(await bridge.api!.deps.queues.provisioning.getWaitingCount());
    expect(sample(api, 'ictvoip_queue_oldest_waiting_job_age_seconds', { queue: 'provisioning' })).not.toBeNull();

    // The answer comes on the finishing commit; the job's duration is counted when BullMQ completes it, a moment later.
    const worker = await waitFor(
      async () => {
        const text = await scrape(workerMetricsUrl);
        return sample(text, 'ictvoip_job_duration_seconds_count', { queue: 'provisioning', job: 'tenant.create', outcome: 'completed' }) !== null ? text : null;
      },
      10000,
      'the create job counted as completed',
    );
    expect(sample(worker, 'ictvoip_job_duration_seconds_count', { queue: 'provisioning', job: 'tenant.create', outcome: 'completed' })).toBe(1);
    expect(sample(worker, 'ictvoip_fusionpbx_transaction_duration_seconds_count', { server: 'default', call: 'create', outcome: 'ok' })).toBe(1);
    const memcacheCalls = bridge.esl.apiCommands.filter((command) => command.startsWith('memcache delete')).length;
    expect(sample(worker, 'ictvoip_esl_call_duration_seconds_count', { server: 'default', command: 'memcache delete', outcome: 'ok' })).toBe(memcacheCalls);
    expect(sample(worker, 'ictvoip_esl_call_duration_seconds_count', { command: 'memcache delete', outcome: 'refused' })).toBeNull();
  });

  it('counts refused event-socket calls and failed job attempts, and shows the pending apply until it is applied', async () => {
    const serviceId = 5202;
    bridge.esl.fail(/^memcache/, 'memcache down');
    const reply = await postWebhook(bridge.url, JSON.stringify(event(serviceId, 'create')), { query: '?wait=2' });
    expect(reply.body.result).toBe('pending');
    const worker = await waitFor(async () => {
      const text = await scrape(workerMetricsUrl);
      // The create itself finishes (its database side); the service's FreeSWITCH backlog job is what fails and retries.
      return (sample(text, 'ictvoip_job_failures_total', { queue: 'provisioning', job: 'freeswitch.backlog' }) ?? 0) >= 1 ? text : null;
    });
    expect(sample(worker, 'ictvoip_esl_call_duration_seconds_count', { command: 'memcache delete', outcome: 'refused' })).toBeGreaterThanOrEqual(1);
    expect(sample(worker, 'ictvoip_job_duration_seconds_count', { queue: 'provisioning', job: 'freeswitch.backlog', outcome: 'failed' })).toBeGreaterThanOrEqual(1);
    const api = await scrape(`${bridge.url}/metrics`);
    expect(sample(api, 'ictvoip_pending_apply_services')).toBe(1);
    bridge.esl.failures.length = 0;
    const done = await waitFor(
      async () => {
        const { rows } = await bridge.api!.deps.pool.query("SELECT status FROM webhook_inbox WHERE service_id = $1 AND status = 'succeeded'", [serviceId]);
        return rows.length > 0;
      },
      20000,
      'the create to succeed once memcache answers',
    );
    expect(done).toBe(true);
    expect(sample(await scrape(`${bridge.url}/metrics`), 'ictvoip_pending_apply_services')).toBe(0);
  });
});

describe('logs', () => {
  it('carries the webhook request id into the job, its FusionPBX transaction and its event-socket calls', async () => {
    const requestId = `trace-${Date.now()}`;
    const body = event(5203, 'create');
    const reply = await postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20', headers: { 'x-request-id': requestId } });
    expect(reply.headers.get('x-request-id')).toBe(requestId);
    expect(reply.body.result).toBe('success');
    // The answer comes on the commit that finishes the inbox row; the worker logs 'event applied' a moment after it.
    const linesOfRequest = () => logRecords(bridge, (line) => line.requestId === requestId);
    const lines = await waitFor(
      async () => {
        const seen = linesOfRequest();
        return seen.some((line) => line.msg === 'event applied') ? seen : null;
      },
      10000,
      "the worker's 'event applied' line",
    );
    const messages = lines.map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['webhook event recorded', 'FusionPBX transaction committed', 'event-socket call', 'event applied']));
    expect(lines.filter((line) => line.msg === 'event-socket call').every((line) => line.eventId === body.eventId)).toBe(true);
    // The service password never reaches a log line.
    expect(bridge.logLines.some((line) => line.includes((body.secrets as { servicePassword: string }).servicePassword))).toBe(false);
  });

  it('redacts secrets by path in the production logger', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'info', name: 'test', destination: destination as never });
    logger.info(
      {
        requestId: 'r1',
        secrets: { servicePassword: 'p4ss-word-1' },
        config: { adminToken: 'admin-token-xyz', esl: { password: 'ClueCon-x' } },
        req: { headers: { authorization: 'Bearer abc' } },
      },
      'line',
    );
    const [line] = lines;
    expect(line).toContain('"requestId":"r1"');
    for (const secret of ['p4ss-word-1', 'admin-token-xyz', 'ClueCon-x', 'Bearer abc']) expect(line).not.toContain(secret);
  });
});
