import fc from 'fast-check';
import { buildEvent, HOSTILE_STRINGS, postWebhook } from '@ictvoip/testkit';
import { startTestApi, type TestApi } from './harness';

/**
 * Property-based bodies for POST /webhooks/whmcs, every one correctly signed (so it gets past the
 * signature to the parser, the validator and the database). FUZZ_RUNS=10000 for the full run; the
 * default keeps CI fast.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const ALLOWED = new Set([202, 400, 409, 413]);

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ JOB_ATTEMPTS: '1' });
});
afterAll(async () => {
  await t.close();
});

const inboxCount = async () => (await t.api.deps.pool.query('SELECT count(*)::int AS n FROM webhook_inbox')).rows[0].n as number;

/**
 * The inbox row for an event id, with its job, checked for completeness (never a partial row).
 * An event whose eventId is not an id at all (the fuzzed field) must be refused (4xx) with nothing
 * stored: the inbox holds exactly `before` rows still.
 */
async function assertWholeRowOrNone(eventId: unknown, status: number, body: Record<string, any> | null, before: number): Promise<void> {
  const accepted = status === 202;
  if (typeof eventId !== 'string' || !/^[0-9a-f-]{36}$/i.test(eventId)) {
    expect({ eventId, status, refused: status >= 400 && status < 500 }).toEqual({ eventId, status, refused: true });
    expect(await inboxCount()).toBe(before);
    return;
  }
  const { rows } = await t.api.deps.pool.query('SELECT action, service_id, client_id, status, job_id, payload FROM webhook_inbox WHERE event_id = $1', [eventId]);
  if (!accepted) {
    expect(rows).toHaveLength(0);
    return;
  }
  expect(rows).toHaveLength(1);
  const [row] = rows;
  // Compared with what went over the wire: JSON has no -0 (JSON.stringify(-0) is "0").
  const sent = JSON.parse(JSON.stringify(body)) as Record<string, any> | null;
  expect(row.status).toBe('queued');
  expect(row.action).toBe(sent?.action);
  expect(Number(row.service_id)).toBe(Number(sent?.service?.id));
  expect(Number(row.client_id)).toBe(Number(sent?.client?.id));
  expect(row.payload.eventId).toBe(eventId);
  const job = await t.api.deps.queues.provisioning.getJob(row.job_id);
  expect(job?.data.eventId).toBe(eventId);
}

// Hostile leaves: SQL, the test kit's shell and unicode strings, big strings.
const nasty = fc.oneof(
  fc.constantFrom("'; DROP TABLE webhook_inbox; --", ...HOSTILE_STRINGS),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.integer({ min: 1, max: 20000 }).map((n) => 'x'.repeat(n)),
);
const leaf = fc.oneof(nasty, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.bigInt().map(String), fc.constantFrom(-1, 0, 1e308, -0, 2 ** 53 + 1));
const anyJson = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(nasty, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString')), tie('value'), { maxKeys: 4 }),
})).value;

const PATHS = [
  'schemaVersion',
  'eventId',
  'action',
  'occurredAt',
  'service',
  'service.id',
  'service.domain',
  'service.username',
  'service.pid',
  'client',
  'client.id',
  'client.email',
  'client.companyName',
  'server',
  'server.hostname',
  'plan',
  'plan.maxExtensions',
  'plan.firstExtension',
  'plan.gatewayTemplate',
  'plan.includedMinutes',
  'configurableOptions',
  'customFields',
  'secrets',
  'secrets.servicePassword',
  'extra',
];

function setPath(target: Record<string, any>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key];
  }
  node[keys[keys.length - 1]] = value;
}

function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

describe('webhook fuzz', () => {
  it('random bytes and broken JSON: 400/413/415, never 5xx, nothing stored', async () => {
    const before = await inboxCount();
    const brokenJson = fc.oneof(
      fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
      fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s)),
      fc.tuple(fc.constant(JSON.stringify(buildEvent())), fc.nat()).map(([json, cut]) => Buffer.from(json.slice(0, cut % json.length))),
      fc.constantFrom('', 'null', '[]', '1', '"x"', 'true', '{', '{"a":}', '\ufeff{}', '{"schemaVersion":1,}', 'NaN').map((s) => Buffer.from(s)),
    );
    await fc.assert(
      fc.asyncProperty(brokenJson, async (raw) => {
        const reply = await postWebhook(t.url, raw);
        expect(reply.status).toBeLessThan(500);
        expect([400, 413, 415]).toContain(reply.status);
        expect(reply.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
      }),
      { numRuns: RUNS },
    );
    expect(await inboxCount()).toBe(before);
  }, 600000);

  it('a valid event with one field replaced by anything: never 5xx, a whole inbox row or none', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PATHS), anyJson, fc.constantFrom('create', 'suspend', 'terminate', 'change_password', 'test_connection'), async (path, value, action) => {
        const event = buildEvent({ action }) as Record<string, any>;
        if (action !== 'create' && action !== 'change_password') delete event.secrets;
        if (action === 'test_connection') event.service.id = 0;
        setPath(event, path, value);
        const before = await inboxCount();
        const reply = await postWebhook(t.url, JSON.stringify(event));
        expect(reply.status).toBeLessThan(500);
        expect(ALLOWED).toContain(reply.status);
        await assertWholeRowOrNone(event.eventId, reply.status, event, before);
      }),
      { numRuns: RUNS },
    );
  }, 600000);

  it('an eventId that is not an id (anything at all, or missing): a 4xx, nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyJson, nasty, fc.constant(undefined)), async (value) => {
        const event = buildEvent() as Record<string, any>;
        if (value === undefined) delete event.eventId;
        else event.eventId = value;
        const before = await inboxCount();
        const reply = await postWebhook(t.url, JSON.stringify(event));
        expect(reply.status).toBeLessThan(500);
        await assertWholeRowOrNone(event.eventId, reply.status, event, before);
      }),
      { numRuns: Math.max(20, Math.round(RUNS / 3)) },
    );
  }, 600000);

  it('hostile strings in every text field at once: never 5xx, a whole row or none', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(nasty, { minLength: 12, maxLength: 12 }), async (values) => {
        const event = buildEvent() as Record<string, any>;
        const textPaths = [
          'service.domain',
          'service.username',
          'service.status',
          'client.email',
          'client.companyName',
          'client.firstName',
          'client.lastName',
          'server.hostname',
          'plan.gatewayTemplate',
          'plan.brand',
          'customFields.notes',
          'secrets.servicePassword',
        ];
        textPaths.forEach((path, i) => setPath(event, path, values[i]));
        event.configurableOptions = { [`${values[0]}|${values[1]}`]: values[2] };
        const before = await inboxCount();
        const reply = await postWebhook(t.url, JSON.stringify(event));
        expect(reply.status).toBeLessThan(500);
        expect(ALLOWED).toContain(reply.status);
        await assertWholeRowOrNone(event.eventId, reply.status, event, before);
      }),
      { numRuns: RUNS },
    );
  }, 600000);

  it.each([
    ['arrays', 'array' as const],
    ['objects', 'object' as const],
  ])(
    'deeply nested %s inside an open map (up to the 256 KiB limit): never 5xx',
    async (_name, kind) => {
      for (const depth of [100, 1000, 5000, 20000, 40000]) {
        const event = buildEvent() as Record<string, any>;
        const json = JSON.stringify(event).replace('"customFields":{}', `"customFields":{"deep":${nested(depth, kind)}}`);
        const before = await inboxCount();
        const reply = await postWebhook(t.url, json);
        expect(reply.status).toBeLessThan(500);
        expect(ALLOWED).toContain(reply.status);
        await assertWholeRowOrNone(event.eventId, reply.status, event, before);
      }
    },
    120000,
  );

  it('huge strings and many keys near the body limit: 202 or 413, never 5xx', async () => {
    for (const size of [1000, 100_000, 250_000, 262_144, 300_000]) {
      const event = buildEvent({ customFields: { notes: 'n'.repeat(size) } });
      const before = await inboxCount();
      const reply = await postWebhook(t.url, JSON.stringify(event));
      expect([202, 413]).toContain(reply.status);
      await assertWholeRowOrNone(event.eventId, reply.status, event, before);
    }
    const manyKeys = buildEvent({ customFields: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`k${i}`, i])) });
    const reply = await postWebhook(t.url, JSON.stringify(manyKeys));
    expect([202, 413]).toContain(reply.status);
  }, 120000);
});

describe('bodies the fuzzer found (regressions: each was a 500 before)', () => {
  it.each([
    [
      'a NUL character in a value',
      (e: Record<string, any>) => {
        e.client.companyName = 'x\u0000y';
      },
      'client.companyName',
      /NUL/,
    ],
    [
      'an unpaired surrogate in a key',
      (e: Record<string, any>) => {
        e.extra = { '\ud83d': 0 };
      },
      'extra.?',
      /surrogate/,
    ],
    [
      'an unpaired surrogate in a value',
      (e: Record<string, any>) => {
        e.service.domain = 'a\udc00';
      },
      'service.domain',
      /surrogate/,
    ],
  ])('%s → 400 naming the field, nothing stored', async (_name, mutate, path, message) => {
    const event = buildEvent() as Record<string, any>;
    mutate(event);
    const before = await inboxCount();
    const reply = await postWebhook(t.url, JSON.stringify(event));
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path, message: expect.stringMatching(message) })] } });
    await assertWholeRowOrNone(event.eventId, reply.status, event, before);
  });

  it('nesting deeper than 64 levels → 400 naming where; 60 levels are fine', async () => {
    const deep = buildEvent() as Record<string, any>;
    const deepJson = JSON.stringify(deep).replace('"customFields":{}', `"customFields":{"deep":${nested(5000, 'array')}}`);
    const refused = await postWebhook(t.url, deepJson);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/customFields\.deep(\.\d+)+.*deeper than 64/);
    const fine = buildEvent() as Record<string, any>;
    const fineJson = JSON.stringify(fine).replace('"customFields":{}', `"customFields":{"deep":${nested(60, 'object')}}`);
    expect((await postWebhook(t.url, fineJson)).status).toBe(202);
  });
});
