import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { signBody } from '@ictvoip/whmcs';
import { buildEvent, postWebhook, TEST_REDIS_URL, TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { createProducerConnection } from '@ictvoip/queue';
import pino from 'pino';
import { startApi } from '../src';
import { startTestApi, type TestApi } from './harness';

let t: TestApi;

beforeAll(async () => {
  t = await startTestApi({ WEBHOOK_SECRET_PREVIOUS: 'previous-secret-0123456789abcdef' });
});
afterAll(async () => {
  await t.close();
});

async function inboxRows(eventId: string) {
  const { rows } = await t.api.deps.pool.query('SELECT * FROM webhook_inbox WHERE event_id = $1', [eventId]);
  return rows;
}

async function inboxCount(): Promise<number> {
  const { rows } = await t.api.deps.pool.query('SELECT count(*)::int AS n FROM webhook_inbox');
  return rows[0].n;
}

describe('POST /webhooks/whmcs — happy path', () => {
  it('stores a signed create and queues one job with a deterministic id', async () => {
    const event = buildEvent();
    const reply = await postWebhook(t.url, JSON.stringify(event));
    expect(reply.status).toBe(202);
    const service = event.service as { id: number };
    expect(reply.body).toMatchObject({
      result: 'pending',
      eventId: event.eventId,
      jobId: `svc-${service.id}-create-${event.eventId}`,
      statusUrl: `/webhooks/whmcs/events/${event.eventId}`,
    });
    const [row] = await inboxRows(event.eventId as string);
    expect(row).toMatchObject({ action: 'create', status: 'queued', service_id: String(service.id) });
    const job = await t.api.deps.queues.provisioning.getJob(String(reply.body.jobId));
    expect(job?.name).toBe('tenant.create');
    expect(job?.data).toEqual({ eventId: event.eventId, serviceId: service.id, action: 'create', requestId: expect.any(String) });
  });

  it('keeps the service password out of the stored payload, the job and the logs', async () => {
    const event = buildEvent();
    const reply = await postWebhook(t.url, JSON.stringify(event));
    expect(reply.status).toBe(202);
    const [row] = await inboxRows(event.eventId as string);
    const password = (event.secrets as { servicePassword: string }).servicePassword;
    expect(JSON.stringify(row.payload)).not.toContain(password);
    expect(row.sealed_secrets).toMatch(/^v2\.test1\./);
    expect(row.sealed_secrets).not.toContain(password);
    const job = await t.api.deps.queues.provisioning.getJob(String(reply.body.jobId));
    expect(JSON.stringify(job?.data)).not.toContain(password);
    expect(t.logLines.join('\n')).not.toContain(password);
    expect(t.logLines.join('\n')).not.toContain(TEST_WEBHOOK_SECRET);
  });

  it('accepts a signature made with the previous secret (rotation) and several v1= values', async () => {
    const event = JSON.stringify(buildEvent());
    const ts = Math.floor(Date.now() / 1000);
    const previous = await postWebhook(t.url, event, { secret: 'previous-secret-0123456789abcdef', timestamp: ts });
    expect(previous.status).toBe(202);
    const other = JSON.stringify(buildEvent());
    const both = `${signBody('some-unknown-secret-abcdefghijkl', ts, other)} ${signBody(TEST_WEBHOOK_SECRET, ts, other)}`;
    expect((await postWebhook(t.url, other, { timestamp: ts, signature: both })).status).toBe(202);
  });
});

describe('POST /webhooks/whmcs — signature', () => {
  const cases: [string, (body: string) => Parameters<typeof postWebhook>[2]][] = [
    ['a wrong secret', () => ({ secret: 'wrong-secret-0123456789abcdefgh' })],
    ['a missing signature', () => ({ signature: '' })],
    ['a malformed signature', () => ({ signature: 'v1=zz' })],
    ['a stale timestamp', () => ({ timestamp: Math.floor(Date.now() / 1000) - 301 })],
    // Flooring to seconds and a slow request eat up to ~2 s of the margin: 310, not 301.
    ['a future timestamp', () => ({ timestamp: Math.floor(Date.now() / 1000) + 310 })],
    ['a signature of another timestamp', (body) => ({ signature: signBody(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 5, body) })],
  ];
  it.each(cases)('refuses %s with 401 and writes nothing', async (_name, options) => {
    const before = await inboxCount();
    const body = JSON.stringify(buildEvent());
    const reply = await postWebhook(t.url, body, options(body));
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(await inboxCount()).toBe(before);
  });

  it('logs each refusal as a warning naming the path and the reason, never the signature or the secret (repeats counted, not printed)', async () => {
    const refusals = () =>
      t.logLines.map((line) => JSON.parse(line) as { level: number; msg: string; path?: string }).filter((line) => line.msg.startsWith('refused a signed request'));
    const body = JSON.stringify(buildEvent());
    const secret = 'an-old-access-hash-0123456789abc';
    for (let i = 0; i < 3; i += 1) expect((await postWebhook(t.url, body, { secret })).status).toBe(401);
    // The wrong-secret case above and these three: one line for that reason within the interval.
    const { message } = (await postWebhook(t.url, body, { secret })).body.error as { message: string };
    const logged = refusals().filter((line) => line.msg.includes(message));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, path: '/webhooks/whmcs', msg: expect.stringContaining("the WHMCS server's Access Hash must equal WEBHOOK_SECRET") });
    expect(t.logLines.join('\n')).not.toContain(secret);
  });

  it('refuses a body re-serialised after signing', async () => {
    const event = buildEvent();
    const original = JSON.stringify(event);
    const ts = Math.floor(Date.now() / 1000);
    const reserialised = JSON.stringify(event, null, 2);
    const reply = await postWebhook(t.url, reserialised, { timestamp: ts, signature: signBody(TEST_WEBHOOK_SECRET, ts, original) });
    expect(reply.status).toBe(401);
  });
});

describe('POST /webhooks/whmcs — bad input', () => {
  it('names an unknown action', async () => {
    const reply = await postWebhook(t.url, JSON.stringify(buildEvent({ action: 'explode' })));
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: expect.arrayContaining([expect.objectContaining({ path: 'action' })]) } });
  });

  const required = ['schemaVersion', 'eventId', 'action', 'occurredAt', 'service', 'client', 'service.id', 'client.id'];
  it.each(required)('names the missing field %s and writes nothing', async (path) => {
    const before = await inboxCount();
    const event = buildEvent() as Record<string, Record<string, unknown>>;
    const [top, inner] = path.split('.');
    if (inner) delete event[top][inner];
    else delete event[top];
    const reply = await postWebhook(t.url, JSON.stringify(event));
    expect(reply.status).toBe(400);
    const details = (reply.body.error as { details: { path: string }[] }).details;
    expect(details.map((d) => d.path)).toContain(path);
    expect(await inboxCount()).toBe(before);
  });

  it('lists every failing path at once', async () => {
    const reply = await postWebhook(t.url, JSON.stringify(buildEvent({ eventId: 'nope', occurredAt: 'yesterday', schemaVersion: 2 })));
    const paths = (reply.body.error as { details: { path: string }[] }).details.map((d) => d.path).sort();
    expect(paths).toEqual(['eventId', 'occurredAt', 'schemaVersion']);
  });

  it.each([
    [{ plan: { maxExtensions: 3, firstExtension: 100, maxGateways: -1 } }, 'plan.maxGateways'],
    [{ plan: { maxExtensions: 3, firstExtension: 100, maxDestinations: 10_001 } }, 'plan.maxDestinations'],
    [{ configurableOptions: { 'maxGateways|Gateways': '1001' } }, 'configurableOptions.maxGateways'],
  ])('refuses a FusionPBX limit out of bounds (%j) with 400 naming %s, and stores nothing', async (overrides, path) => {
    const before = await inboxCount();
    const reply = await postWebhook(t.url, JSON.stringify(buildEvent(overrides)));
    expect(reply.status).toBe(400);
    expect((reply.body.error as { details: { path: string }[] }).details.map((d) => d.path)).toEqual([path]);
    expect(await inboxCount()).toBe(before);
  });

  it.each([[['203.0.113.10', '203.0.113.300']], ['198.51.100.0/24 | 198.51.100.0/33'], [['2001:db8::/129']], [{ cidr: '203.0.113.10' }]])(
    'refuses a bad trunk CIDR (%j) with 400 naming plan.trunkCidrs and the entry, and stores nothing',
    async (trunkCidrs) => {
      const before = await inboxCount();
      const reply = await postWebhook(t.url, JSON.stringify(buildEvent({ plan: { maxExtensions: 3, firstExtension: 100, trunkCidrs } })));
      expect(reply.status).toBe(400);
      const details = (reply.body.error as { details: { path: string; message: string }[] }).details;
      expect(details.map((d) => d.path)).toEqual(['plan.trunkCidrs']);
      // The message names the entry: 'plan.trunkCidrs[1]' '203.0.113.300' is not …
      expect(details[0]!.message).toMatch(/^'plan\.trunkCidrs(\[[01]\])?' /);
      expect(await inboxCount()).toBe(before);
    },
  );

  it('accepts trunk CIDRs as a list or as one "a | b" string', async () => {
    for (const trunkCidrs of [['203.0.113.10', '2001:db8::/48'], '198.51.100.0/24 | 203.0.113.11']) {
      const reply = await postWebhook(t.url, JSON.stringify(buildEvent({ plan: { maxExtensions: 3, firstExtension: 100, trunkCidrs } })));
      expect(reply.status).toBe(202);
    }
  });

  it('refuses a service password on a suspend', async () => {
    const reply = await postWebhook(t.url, JSON.stringify(buildEvent({ action: 'suspend' })));
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).not.toContain('Adm1n-Pass-Example!');
  });

  it('answers 400 to malformed JSON, 415 to another content type, 413 to a huge body', async () => {
    expect((await postWebhook(t.url, '{"schemaVersion":')).status).toBe(400);
    const wrongType = await postWebhook(t.url, JSON.stringify(buildEvent()), { contentType: 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const huge = JSON.stringify(buildEvent({ customFields: { notes: 'x'.repeat(300 * 1024) } }));
    const tooLarge = await postWebhook(t.url, huge);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('refuses a bad wait parameter', async () => {
    const reply = await postWebhook(t.url, JSON.stringify(buildEvent()), { query: '?wait=soon' });
    expect(reply.status).toBe(400);
  });
});

describe('POST /webhooks/whmcs — repeats', () => {
  it('returns the first delivery for the same event, even re-serialised', async () => {
    const event = buildEvent();
    const first = await postWebhook(t.url, JSON.stringify(event));
    const again = await postWebhook(t.url, JSON.stringify(event));
    const reordered = Object.fromEntries(Object.entries(event).reverse());
    const third = await postWebhook(t.url, JSON.stringify(reordered, null, 1));
    expect([first.status, again.status, third.status]).toEqual([202, 202, 202]);
    expect(again.body.jobId).toBe(first.body.jobId);
    expect(await inboxRows(event.eventId as string)).toHaveLength(1);
    const counts = await t.api.deps.queues.provisioning.getJobCounts('waiting');
    const jobs = await t.api.deps.queues.provisioning.getJobs(['waiting']);
    expect(jobs.filter((j) => j.data.eventId === event.eventId)).toHaveLength(1);
    expect(counts.waiting).toBeGreaterThan(0);
  });

  it('answers 409 to the same event id with another body', async () => {
    const event = buildEvent();
    await postWebhook(t.url, JSON.stringify(event));
    const changed = await postWebhook(t.url, JSON.stringify({ ...event, plan: { maxExtensions: 50 } }));
    expect(changed.status).toBe(409);
    expect(changed.body).toMatchObject({ error: { code: 'EVENT_CONFLICT' } });
    const [row] = await inboxRows(event.eventId as string);
    expect(row.payload.plan.maxExtensions).toBe(3);
  });

  it('refuses to queue a redelivered row whose stored action no job serves (ACTION_UNSERVED), and leaves it received', async () => {
    // A row left `received` (its first enqueue failed) by a bridge version with an action this one has
    // no job for: a redelivery must not queue a job nobody takes, nor mark the row queued.
    const event = buildEvent();
    const body = JSON.stringify(event);
    expect((await postWebhook(t.url, body)).status).toBe(202);
    const before = await t.api.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed']);
    await t.api.deps.pool.query("UPDATE webhook_inbox SET status = 'received', action = 'tenant-rename' WHERE event_id = $1", [event.eventId]);
    const again = await postWebhook(t.url, body);
    expect(again.status).toBe(500);
    expect(again.body).toMatchObject({ error: { code: 'ACTION_UNSERVED', message: 'no job serves action tenant-rename' } });
    expect(await inboxRows(event.eventId as string)).toEqual([expect.objectContaining({ status: 'received', action: 'tenant-rename' })]);
    const after = await t.api.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed']);
    expect(after.filter((job) => job.data.eventId === event.eventId)).toHaveLength(before.filter((job) => job.data.eventId === event.eventId).length);
    // The same again: the same refusal, nothing queued.
    expect((await postWebhook(t.url, body)).body).toMatchObject({ error: { code: 'ACTION_UNSERVED' } });
    expect(await inboxRows(event.eventId as string)).toEqual([expect.objectContaining({ status: 'received' })]);
  });

  it('logs an ACTION_UNSERVED answer once, as an error with its code and request id, never the password or the secret', async () => {
    const event = buildEvent();
    const password = (event.secrets as { servicePassword: string }).servicePassword;
    const body = JSON.stringify(event);
    expect((await postWebhook(t.url, body)).status).toBe(202);
    await t.api.deps.pool.query("UPDATE webhook_inbox SET status = 'received', action = 'tenant-rename' WHERE event_id = $1", [event.eventId]);
    const requestId = `unserved-${event.eventId as string}`;
    const reply = await postWebhook(t.url, body, { headers: { 'x-request-id': requestId } });
    expect(reply.status).toBe(500);
    expect(reply.headers.get('x-request-id')).toBe(requestId);
    const lines = t.logLines.filter((line) => line.includes(requestId));
    // The request's other lines (the event recorded, info) aside: one line says what it was answered.
    const answered = lines.map((line) => JSON.parse(line) as { msg: string }).filter((line) => line.msg.startsWith('answered'));
    expect(answered).toEqual([
      expect.objectContaining({
        level: 50,
        status: 500,
        code: 'ACTION_UNSERVED',
        requestId,
        method: 'POST',
        path: '/webhooks/whmcs',
        msg: 'answered 500 ACTION_UNSERVED: no job serves action tenant-rename',
      }),
    ]);
    expect(lines.join('\n')).not.toContain(password);
    expect(t.logLines.join('\n')).not.toContain(password);
    expect(t.logLines.join('\n')).not.toContain(TEST_WEBHOOK_SECRET);
  });

  it('keeps one row and one job when many copies arrive at once', async () => {
    const event = JSON.stringify(buildEvent());
    const replies = await Promise.all(Array.from({ length: 10 }, () => postWebhook(t.url, event)));
    expect(replies.every((r) => r.status === 202)).toBe(true);
    const eventId = JSON.parse(event).eventId;
    expect(await inboxRows(eventId)).toHaveLength(1);
    const jobs = await t.api.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed']);
    expect(jobs.filter((j) => j.data.eventId === eventId)).toHaveLength(1);
  });
});

describe('POST /webhooks/whmcs — group commit of concurrent webhooks', () => {
  const groupCommits = async (outcome: 'committed' | 'split' = 'committed') => {
    const metric = await t.api.deps.metrics!.registry.getSingleMetricAsString('ictvoip_webhook_group_commit_rows');
    const count = new RegExp(`ictvoip_webhook_group_commit_rows_count\\{outcome="${outcome}"\\} (\\d+)`).exec(metric);
    const sum = new RegExp(`ictvoip_webhook_group_commit_rows_sum\\{outcome="${outcome}"\\} (\\d+)`).exec(metric);
    return { inserts: Number(count?.[1] ?? 0), rows: Number(sum?.[1] ?? 0) };
  };

  it('commits a burst of distinct events, repeats and a conflicting body in fewer INSERTs than requests, each answered as alone', async () => {
    const before = await groupCommits();
    const events = Array.from({ length: 40 }, () => buildEvent());
    const known = buildEvent();
    expect((await postWebhook(t.url, JSON.stringify(known))).status).toBe(202);
    const twice = JSON.stringify(events[0]);
    const conflicting = JSON.stringify({ ...known, plan: { ...(known.plan as object), maxExtensions: 9 } });
    const bodies = [...events.map((event) => JSON.stringify(event)), twice, JSON.stringify(known), conflicting];
    const replies = await Promise.all(bodies.map((body) => postWebhook(t.url, body)));

    expect(replies.slice(0, 42).map((reply) => reply.status)).toEqual(Array(42).fill(202));
    expect(replies[42].status).toBe(409);
    for (const [index, event] of events.entries()) expect(replies[index].body.eventId).toBe(event.eventId);
    const ids = events.map((event) => event.eventId as string);
    const { rows } = await t.api.deps.pool.query('SELECT event_id, status FROM webhook_inbox WHERE event_id = ANY($1::uuid[])', [ids]);
    expect(rows).toHaveLength(40);
    expect(rows.every((row: { status: string }) => row.status === 'queued')).toBe(true);
    const jobs = await t.api.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed']);
    for (const id of ids) expect(jobs.filter((job) => job.data.eventId === id)).toHaveLength(1);

    const after = await groupCommits();
    // Every request's row went through a group INSERT, and some INSERTs carried several.
    expect(after.rows - before.rows).toBe(bodies.length + 1);
    expect(after.inserts - before.inserts).toBeLessThan(bodies.length + 1);
  });

  it('a row the batch cannot take fails alone: the other requests of the same INSERT are committed', async () => {
    const pool = t.api.deps.pool;
    // A real fault inside PostgreSQL: a trigger refuses one service's row, so the multi-row INSERT fails as a whole.
    await pool.query(`CREATE FUNCTION refuse_service_991() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.service_id = 991 THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`);
    await pool.query('CREATE TRIGGER refuse_service_991 BEFORE INSERT ON webhook_inbox FOR EACH ROW EXECUTE FUNCTION refuse_service_991()');
    try {
      // Until a burst puts the refused row in a batch with others (concurrent arrivals usually do at once).
      for (let burst = 1; ; burst += 1) {
        const before = await groupCommits('split');
        const good = Array.from({ length: 8 }, () => buildEvent());
        const refused = buildEvent({ serviceId: 991 });
        const replies = await Promise.all([...good, refused].map((event) => postWebhook(t.url, JSON.stringify(event))));
        expect(replies.slice(0, 8).map((reply) => reply.status)).toEqual(Array(8).fill(202));
        expect(replies[8].status).toBe(500);
        for (const event of good) expect(await inboxRows(event.eventId as string)).toHaveLength(1);
        expect(await inboxRows(refused.eventId as string)).toHaveLength(0);
        const split = await groupCommits('split');
        expect(split.inserts).toBeGreaterThan(before.inserts);
        if (split.rows - before.rows > split.inserts - before.inserts) break;
        if (burst === 10) throw new Error('the refused row never shared a batch in 10 bursts');
      }
    } finally {
      await pool.query('DROP TRIGGER refuse_service_991 ON webhook_inbox');
      await pool.query('DROP FUNCTION refuse_service_991()');
    }
  });
});

describe('GET /webhooks/whmcs/events/:id', () => {
  it('reports a stored event when signed, 401 unsigned, 404 unknown', async () => {
    const event = buildEvent();
    await postWebhook(t.url, JSON.stringify(event));
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'x-ictvoip-timestamp': String(ts), 'x-ictvoip-signature': signBody(TEST_WEBHOOK_SECRET, ts, '') };
    const ok = await fetch(`${t.url}/webhooks/whmcs/events/${event.eventId}`, { headers });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toMatchObject({ result: 'pending', eventId: event.eventId });
    expect((await fetch(`${t.url}/webhooks/whmcs/events/${event.eventId}`).then(async (res) => (await res.body?.cancel(), res))).status).toBe(401);
    expect((await fetch(`${t.url}/webhooks/whmcs/events/${randomUUID()}`, { headers }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(404);
  });
});

describe('Redis down', () => {
  it('answers 503 with Retry-After and keeps the event durable for the reconciler', async () => {
    const down = await startTestApi({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const event = buildEvent();
      const started = Date.now();
      const reply = await postWebhook(down.url, JSON.stringify(event));
      expect(reply.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(reply.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(reply.body).toMatchObject({ error: { code: 'DEPENDENCY_UNAVAILABLE' } });
      const { rows } = await down.api.deps.pool.query('SELECT status, job_id FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
      expect(rows).toEqual([{ status: 'received', job_id: expect.stringContaining(String(event.eventId)) }]);
      // The operator sees why WHMCS is told to retry: one warning (repeats are counted, not printed).
      expect((await postWebhook(down.url, JSON.stringify(buildEvent()))).status).toBe(503);
      const warnings = down.logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.msg.startsWith('answered 503'));
      expect(warnings).toEqual([expect.objectContaining({ level: 40, msg: 'answered 503: the job queue (Redis) is unavailable; retry later' })]);
    } finally {
      await down.close();
    }
  });

  it('adds the job when the event comes again and Redis is back', async () => {
    const down = await startTestApi({ REDIS_URL: 'redis://127.0.0.1:1' });
    // A second API on the same database with a working Redis: the "Redis is back" side.
    const up = await startApi({ ...down.config, redis: { ...down.config.redis, url: TEST_REDIS_URL } }, pino({ level: 'silent' }), { port: 0 });
    try {
      const body = JSON.stringify(buildEvent());
      const event = JSON.parse(body) as { eventId: string };
      expect((await postWebhook(down.url, body)).status).toBe(503);
      const again = await postWebhook(up.url, body);
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ result: 'pending', eventId: event.eventId, state: 'queued' });
      const { rows } = await up.deps.pool.query('SELECT status FROM webhook_inbox WHERE event_id = $1', [event.eventId]);
      expect(rows).toEqual([{ status: 'queued' }]);
      expect((await up.deps.queues.provisioning.getJob(String(again.body.jobId)))?.data.eventId).toBe(event.eventId);
    } finally {
      await up.close();
      await down.close();
    }
  });
});

describe('a second queue client sees the job', () => {
  it('is visible to another connection (what Bull Board reads)', async () => {
    const event = buildEvent();
    const reply = await postWebhook(t.url, JSON.stringify(event));
    const connection = createProducerConnection(TEST_REDIS_URL);
    const queue = new Queue('provisioning', { connection, prefix: t.prefix });
    try {
      expect((await queue.getJob(String(reply.body.jobId)))?.data.eventId).toBe(event.eventId);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
