import { signBody } from '@ictvoip/whmcs';
import { buildEvent, TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { startTestApi, type TestApi } from './harness';

let t: TestApi;

beforeAll(async () => {
  t = await startTestApi();
});
afterAll(async () => {
  await t.close();
});

/** Sends exactly the bytes and headers given: what an attacker who captured a request can do. */
async function send(raw: Buffer, headers: Record<string, string>) {
  const reply = await fetch(`${t.url}/webhooks/whmcs`, { method: 'POST', headers, body: raw });
  return { status: reply.status, body: (await reply.json()) as Record<string, unknown> };
}

function captured(event: Record<string, unknown>) {
  const raw = Buffer.from(JSON.stringify(event));
  const ts = Math.floor(Date.now() / 1000);
  return { raw, headers: { 'content-type': 'application/json', 'x-ictvoip-timestamp': String(ts), 'x-ictvoip-signature': signBody(TEST_WEBHOOK_SECRET, ts, raw) } };
}

async function jobsFor(eventId: unknown) {
  const jobs = await t.api.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized']);
  return jobs.filter((job) => job.data.eventId === eventId);
}

describe('a replayed webhook request (same bytes, same signature)', () => {
  it('returns the first delivery and queues no second job', async () => {
    const event = buildEvent();
    const { raw, headers } = captured(event);
    const first = await send(raw, headers);
    expect(first.status).toBe(202);
    const replays = await Promise.all(Array.from({ length: 5 }, () => send(raw, headers)));
    for (const replay of replays) {
      expect(replay.status).toBe(202);
      expect(replay.body).toMatchObject({ eventId: event.eventId, jobId: first.body.jobId });
    }
    const { rows } = await t.api.deps.pool.query('SELECT count(*)::int AS n FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
    expect(rows).toEqual([{ n: 1 }]);
    expect(await jobsFor(event.eventId)).toHaveLength(1);
  });

  it('after the event finished, a replay reports that outcome and does not re-run it', async () => {
    const event = buildEvent({ action: 'suspend', secrets: undefined });
    const { raw, headers } = captured(event);
    expect((await send(raw, headers)).status).toBe(202);
    // The worker finished it (as any worker would record it).
    await t.api.deps.inbox.markSucceeded(String(event.eventId), { message: 'suspended', serviceProperties: {} });
    const [job] = await jobsFor(event.eventId);
    await job.remove();
    const replay = await send(raw, headers);
    expect(replay).toMatchObject({ status: 200, body: { result: 'success', message: 'suspended', eventId: event.eventId } });
    expect(await jobsFor(event.eventId)).toHaveLength(0);
    const { rows } = await t.api.deps.pool.query('SELECT status, attempts FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
    expect(rows).toEqual([{ status: 'succeeded', attempts: 0 }]);
  });

  it('a captured request replayed after the 300 s window is refused outright', async () => {
    const event = buildEvent();
    const raw = Buffer.from(JSON.stringify(event));
    const ts = Math.floor(Date.now() / 1000) - 301;
    const reply = await send(raw, { 'content-type': 'application/json', 'x-ictvoip-timestamp': String(ts), 'x-ictvoip-signature': signBody(TEST_WEBHOOK_SECRET, ts, raw) });
    expect(reply.status).toBe(401);
    const { rows } = await t.api.deps.pool.query('SELECT count(*)::int AS n FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('the captured signature does not cover another body, nor the same body with another timestamp', async () => {
    const event = buildEvent();
    const { raw, headers } = captured(event);
    const tampered = Buffer.from(JSON.stringify({ ...event, plan: { maxExtensions: 500 } }));
    expect((await send(tampered, headers)).status).toBe(401);
    const shifted = { ...headers, 'x-ictvoip-timestamp': String(Number(headers['x-ictvoip-timestamp']) + 1) };
    expect((await send(raw, shifted)).status).toBe(401);
    const { rows } = await t.api.deps.pool.query('SELECT count(*)::int AS n FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
    expect(rows).toEqual([{ n: 0 }]);
  });
});
