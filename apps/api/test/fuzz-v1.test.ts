import fc from 'fast-check';
import { HOSTILE_STRINGS } from '@ictvoip/testkit';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { V1_ROUTES } from '../src/routes/v1';
import { call, createKey, type Reply } from './v1-helpers';
import { seedTenant } from './v1-tenant-fixture';

/**
 * Property-based requests for every POST/PUT /v1 route (the write routes with a body): hostile
 * bodies (broken JSON, wrong types, huge strings, deep nesting, unicode, SQL and shell
 * metacharacters, newlines) and hostile path parameters. Never a 5xx; a refused request changes
 * nothing; an accepted one leaves whole rows. FUZZ_RUNS=10000 for the full run; the default keeps CI fast.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const SERVICE = 7301;
const DOMAIN = 't7301.pbx.example.net';
const SEED_NUMBER = '5550007301';

let bridge: Bridge;
let admin: string;
let tenantKey: string;
let domainUuid: string;
let gatewayUuid: string;

beforeAll(async () => {
  // Rate limits far above what the fuzzer sends: a 429 would hide what the route itself does.
  // FUZZ_WRITE_WAIT_MS=0 makes every accepted write a 202 whose final state is read from its job URL.
  const writeWait: Record<string, string> = process.env.FUZZ_WRITE_WAIT_MS ? { API_WRITE_WAIT_MS: process.env.FUZZ_WRITE_WAIT_MS } : {};
  bridge = await startBridge({ API_RATE_LIMIT_STANDARD: '1000000', API_RATE_LIMIT_GATEWAYS: '1000000', LOG_LEVEL: 'warn', ...writeWait });
  await bridge.startApi();
  // REST writes are jobs: a worker applies them.
  await bridge.startWorker({ schedulers: false });
  admin = bridge.config.adminToken;
  ({ domainUuid } = await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE, DOMAIN, { maxExtensions: 1000, maxGateways: 1000 }));
  tenantKey = await createKey(bridge.url, admin, { name: 'fuzz tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  const gateway = await finalReply(
    await call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/gateways`, { token: tenantKey, body: { name: 'fuzz-gw', proxy: 'sip.example.net', register: false } }),
    tenantKey,
  );
  if (gateway.status >= 300) throw new Error(`gateway seed failed: ${gateway.status} ${gateway.text}`);
  gatewayUuid = gateway.body.gateway.gatewayUuid;
  const number = await finalReply(await call(bridge.url, 'POST', `/v1/tenants/${SERVICE}/destinations`, { token: tenantKey, body: { number: SEED_NUMBER } }), tenantKey);
  if (number.status >= 300) throw new Error(`number seed failed: ${number.status} ${number.text}`);
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

// Hostile leaves: SQL, the test kit's shell and unicode strings, look-alikes of valid values, big strings.
const nasty = fc.oneof(
  fc.constantFrom("'; DROP TABLE v_extensions; --", "1' OR '1'='1", '; reloadxml', ...HOSTILE_STRINGS, '', ' ', '100', '+4930123', 'sip.example.net:5061', 'api reloadxml'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.integer({ min: 1, max: 70000 }).map((n) => 'x'.repeat(n)),
  fc.stringMatching(/^[0-9]{1,17}$/),
);
const leaf = fc.oneof(nasty, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.bigInt().map(String), fc.constantFrom(-1, 0, 1e308, -0, 2 ** 53 + 1, 59, 86401, 10001));
const anyJson = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(nasty, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString')), tie('value'), { maxKeys: 4 }),
})).value;

const EXTENSION_FIELDS = [
  'extension',
  'numberAlias',
  'callerIdName',
  'callerIdNumber',
  'outboundCallerIdName',
  'outboundCallerIdNumber',
  'voicemailEmail',
  'enabled',
  'description',
];
const GATEWAY_FIELDS = [
  'name',
  'proxy',
  'register',
  'username',
  'password',
  'authUsername',
  'realm',
  'fromUser',
  'fromDomain',
  'registerTransport',
  'expireSeconds',
  'retrySeconds',
  'callerIdInFrom',
  'context',
  'profile',
  'channels',
  'enabled',
  'description',
];
const KEY_FIELDS = ['name', 'scope', 'serviceId', 'access'];
const DESTINATION_FIELDS = ['number', 'action', 'callerIdNamePrefix', 'description', 'enabled'];
const WATCH_FIELDS = ['scope', 'mark', 'unmark', 'recipients'];
type TargetKind = 'extension' | 'gateway' | 'key' | 'destination' | 'watch';

/** Bodies the route accepts as they are: the fuzz must reach the accepted path (and its effect check), not only refusals. */
const VALID_BODY = {
  extension: fc.integer({ min: 200, max: 99999 }).map((n) => ({ extension: String(n) })),
  gateway: fc.integer({ min: 0, max: 1e9 }).map((n) => ({ name: `fz-${n}`, proxy: 'sip.example.net', register: false })),
  key: fc.constant({ name: 'fuzz key', scope: 'tenant', serviceId: SERVICE, access: 'read' }),
  destination: fc.integer({ min: 5_550_000_000, max: 5_559_999_999 }).map((n) => ({ number: `+1${n}` })),
  watch: fc.constantFrom({ scope: 'all' }, { scope: 'marked', mark: ['100'] }, { scope: null }, { unmark: ['100'] }),
};

/**
 * Objects shaped like the route's body (its own field names) with hostile values, any JSON at all,
 * and an acceptable body with one field (maybe) made hostile.
 */
function bodyFor(fields: string[], kind: TargetKind): fc.Arbitrary<unknown> {
  const shaped = fc.dictionary(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...fields) }, { weight: 1, arbitrary: nasty }), anyJson, { maxKeys: 6 });
  const nearlyValid = fc
    .tuple(VALID_BODY[kind] as fc.Arbitrary<Record<string, unknown>>, fc.dictionary(fc.constantFrom(...fields), fc.oneof(nasty, leaf), { maxKeys: 1 }))
    .map(([valid, hostile]) => ({ ...valid, ...hostile }));
  return fc.oneof({ weight: 5, arbitrary: shaped }, { weight: 2, arbitrary: anyJson }, { weight: 3, arbitrary: nearlyValid });
}

/** Text that is not what the route expects as JSON: broken, truncated, deep, huge. */
const brokenJson = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('{', '{"extension":', '{"a":1,}', "{'a':1}", 'null', '[]', '"x"', '1', 'true', '{"extension":"100"}{', '\ufeff{}', '{"__proto__":{"admin":true}}'),
  fc.integer({ min: 60, max: 5000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  fc.integer({ min: 60, max: 5000 }).map((depth) => `${'['.repeat(depth)}1${']'.repeat(depth)}`),
  fc.integer({ min: 65_000, max: 200_000 }).map((n) => JSON.stringify({ description: 'x'.repeat(n) })),
);

/** A hostile path segment, URL-encoded so it reaches the route (or the router's 404). */
const segment = fc
  .oneof(
    fc.constantFrom('100', '0', '-1', '1e3', '..', '%2e%2e', '100;DROP', "100'--", '00000000-0000-4000-8000-000000000000'),
    nasty.filter((s) => s.length < 300),
  )
  .map(encodeSegment);

/** encodeURIComponent, except that a lone surrogate (which it refuses) becomes bytes that are not UTF-8 at all. */
function encodeSegment(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return `%ED%A0%BD${encodeURIComponent(text.replace(/[\ud800-\udfff]/g, ''))}`;
  }
}

/** Digest of every row the /v1 writes touch for the tenant (FusionPBX) and of the key table (bridge). */
async function snapshot(): Promise<string> {
  const fusion = await bridge.fusion.query<{ d: string }>(
    `SELECT concat_ws('#',
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_extensions t WHERE domain_uuid = $1),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_voicemails t WHERE domain_uuid = $1),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_gateways t WHERE domain_uuid = $1),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_destinations t WHERE domain_uuid = $1),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_dialplans t WHERE domain_uuid = $1),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM v_dialplan_details t WHERE domain_uuid = $1),
       (SELECT count(*) FROM v_extensions), (SELECT count(*) FROM v_gateways), (SELECT count(*) FROM v_voicemails), (SELECT count(*) FROM v_destinations)) AS d`,
    [domainUuid],
  );
  const keys = await bridge.api!.deps.pool.query<{ d: string }>(
    `SELECT md5(coalesce(string_agg(concat_ws(',', id, prefix, name, scope, service_id, access, revoked_at), '|' ORDER BY id), '')) AS d FROM api_keys`,
  );
  return `${fusion.rows[0]!.d}#${keys.rows[0]!.d}`;
}

/** The reply's shape: a 5xx is a failure; an error is the contract's `{error:{code,message}}`. */
function checkReply(reply: Reply, what: string): void {
  expect({ what, status: reply.status, server: reply.status >= 500 }).toEqual({ what, status: reply.status, server: false });
  if (reply.status >= 400) {
    expect(typeof reply.body?.error?.code).toBe('string');
    expect(typeof reply.body?.error?.message).toBe('string');
    expect(reply.text).not.toMatch(/\n\s+at /); // never a stack trace
  }
}

/** A REST write's final answer: the reply itself, or — for a 202 "pending" — the write's answer read from its job URL once final. */
async function finalReply(reply: Reply, token: string): Promise<Reply> {
  if (reply.status !== 202 || reply.body?.outcome !== 'pending') return reply;
  const url = reply.body?.job?.url;
  expect(typeof url).toBe('string');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = await call(bridge.url, 'GET', url, { token });
    expect(job.status).toBe(200);
    const write = job.body?.write;
    if (write && ['succeeded', 'rejected', 'failed'].includes(write.status)) {
      const body = write.status === 'succeeded' ? write.result : { error: write.error };
      return { status: write.httpStatus ?? 503, headers: job.headers, body, text: JSON.stringify(body) };
    }
    if (Date.now() > deadline) throw new Error(`job ${url} not final after 60 s: ${job.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A refused request changed nothing; an accepted extension or gateway exists whole — the one the
 * answer names (the row a POST created, the row a PUT changed). A 202 is followed to its final state.
 */
async function checkEffect(before: string, answered: Reply, kind: TargetKind, token: string): Promise<void> {
  const reply = await finalReply(answered, token);
  if (reply !== answered) checkReply(reply, `final state of ${answered.body?.job?.url}`);
  if (reply.status >= 400) {
    expect(await snapshot()).toBe(before);
    return;
  }
  if (kind === 'watch') {
    // Accepted: the settings the answer shows are the stored ones, within the three scopes; a tenant key never sets recipients.
    expect(['all', 'marked', 'off']).toContain(reply.body?.scope);
    const { rows } = await bridge.api!.deps.pool.query('SELECT recipients FROM monitoring_watch WHERE service_id = $1', [SERVICE]);
    expect(rows[0]?.recipients ?? []).toEqual([]);
  }
  if (kind === 'extension' && reply.body?.extension?.extension) {
    const number = String(reply.body.extension.extension);
    const { rows } = await bridge.fusion.query(
      `SELECT e.extension_uuid, e.user_context, (SELECT count(*)::int FROM v_voicemails v WHERE v.domain_uuid = e.domain_uuid AND v.voicemail_id = e.extension) AS mailboxes
       FROM v_extensions e WHERE e.domain_uuid = $1 AND e.extension = $2`,
      [domainUuid, number],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].user_context).toBe(DOMAIN);
    expect(rows[0].mailboxes).toBe(1);
  }
  if (kind === 'destination' && reply.body?.destination) {
    // A whole inbound number: its row, its public dialplan, the dialplan's details.
    const { rows } = await bridge.fusion.query(
      `SELECT t.domain_uuid, p.dialplan_context, (SELECT count(*)::int FROM v_dialplan_details x WHERE x.dialplan_uuid = t.dialplan_uuid) AS details
       FROM v_destinations t JOIN v_dialplans p ON p.dialplan_uuid = t.dialplan_uuid WHERE t.destination_uuid = $1`,
      [reply.body.destination.destinationUuid],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ domain_uuid: domainUuid, dialplan_context: 'public' });
    expect(rows[0].details).toBeGreaterThanOrEqual(2);
  }
  if (kind === 'gateway' && reply.body?.gateway) {
    const gateway = reply.body.gateway;
    expect(typeof gateway.gatewayUuid).toBe('string');
    const { rows } = await bridge.fusion.query('SELECT gateway, proxy, domain_uuid FROM v_gateways WHERE gateway_uuid = $1', [gateway.gatewayUuid]);
    expect(rows).toHaveLength(1);
    expect(rows[0].domain_uuid).toBe(domainUuid);
    expect({ gateway: rows[0].gateway, proxy: rows[0].proxy }).toEqual({ gateway: gateway.name, proxy: gateway.proxy });
    // A POST creates a gateway of its own: never the pre-seeded one.
    if (reply.body.outcome === 'created') expect(gateway.gatewayUuid).not.toBe(gatewayUuid);
  }
}

async function send(method: string, path: string, token: string, body: unknown, raw: boolean): Promise<Reply> {
  return call(bridge.url, method, path, { token, body: raw ? String(body) : body, headers: { 'content-type': 'application/json' } });
}

interface FuzzTarget {
  method: 'POST' | 'PUT';
  route: string;
  path: () => fc.Arbitrary<string>;
  fields: string[];
  kind: TargetKind;
  token: () => string;
}

const TARGETS: FuzzTarget[] = [
  {
    method: 'POST',
    route: '/v1/tenants/{tenant}/extensions',
    path: () => fc.constant(`/v1/tenants/${SERVICE}/extensions`),
    fields: EXTENSION_FIELDS,
    kind: 'extension',
    token: () => tenantKey,
  },
  {
    method: 'PUT',
    route: '/v1/tenants/{tenant}/extensions/{extension}',
    path: () =>
      fc.oneof(
        fc.constant(`/v1/tenants/${SERVICE}/extensions/100`),
        segment.map((s) => `/v1/tenants/${SERVICE}/extensions/${s}`),
      ),
    fields: EXTENSION_FIELDS,
    kind: 'extension',
    token: () => tenantKey,
  },
  {
    method: 'POST',
    route: '/v1/tenants/{tenant}/gateways',
    path: () => fc.constant(`/v1/tenants/${SERVICE}/gateways`),
    fields: GATEWAY_FIELDS,
    kind: 'gateway',
    token: () => tenantKey,
  },
  {
    method: 'PUT',
    route: '/v1/tenants/{tenant}/gateways/{gateway}',
    path: () =>
      fc.oneof(
        fc.constant(`/v1/tenants/${SERVICE}/gateways/${gatewayUuid}`),
        segment.map((s) => `/v1/tenants/${SERVICE}/gateways/${s}`),
      ),
    fields: GATEWAY_FIELDS,
    kind: 'gateway',
    token: () => tenantKey,
  },
  { method: 'POST', route: '/v1/admin/api-keys', path: () => fc.constant('/v1/admin/api-keys'), fields: KEY_FIELDS, kind: 'key', token: () => admin },
  {
    method: 'POST',
    route: '/v1/tenants/{tenant}/destinations',
    path: () => fc.constant(`/v1/tenants/${SERVICE}/destinations`),
    fields: DESTINATION_FIELDS,
    kind: 'destination',
    token: () => tenantKey,
  },
  {
    method: 'PUT',
    route: '/v1/tenants/{tenant}/destinations/{number}',
    path: () =>
      fc.oneof(
        fc.constant(`/v1/tenants/${SERVICE}/destinations/${SEED_NUMBER}`),
        segment.map((s) => `/v1/tenants/${SERVICE}/destinations/${s}`),
      ),
    fields: DESTINATION_FIELDS,
    kind: 'destination',
    token: () => tenantKey,
  },
  {
    method: 'PUT',
    route: '/v1/tenants/{tenant}/registrations/watch',
    path: () =>
      fc.oneof(
        fc.constant(`/v1/tenants/${SERVICE}/registrations/watch`),
        segment.map((s) => `/v1/tenants/${s}/registrations/watch`),
      ),
    fields: WATCH_FIELDS,
    kind: 'watch',
    token: () => tenantKey,
  },
];

describe('REST /v1 write-route fuzz', () => {
  it('covers every POST/PUT/PATCH route /v1 has', () => {
    const writeRoutes = V1_ROUTES.filter((r) => ['post', 'put', 'patch'].includes(r.spec.method)).map((r) => `${r.spec.method.toUpperCase()} ${r.spec.path}`);
    expect(TARGETS.map((t) => `${t.method} ${t.route}`).sort()).toEqual(writeRoutes.sort());
  });

  for (const target of TARGETS) {
    it(
      `${target.method} ${target.route}: hostile JSON bodies and path parameters — never 5xx, refused = nothing written, accepted = whole rows`,
      async () => {
        await fc.assert(
          fc.asyncProperty(target.path(), bodyFor(target.fields, target.kind), async (path, body) => {
            const before = await snapshot();
            const reply = await send(target.method, path, target.token(), body, false);
            checkReply(reply, `${target.method} ${path}`);
            await checkEffect(before, reply, target.kind, target.token());
          }),
          { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 7301) },
        );
      },
      600_000 + RUNS * 200,
    );

    it(
      `${target.method} ${target.route}: broken, deep and oversized JSON text — 400/413, nothing written`,
      async () => {
        await fc.assert(
          fc.asyncProperty(target.path(), brokenJson, async (path, text) => {
            const before = await snapshot();
            const reply = await send(target.method, path, target.token(), text, true);
            checkReply(reply, `${target.method} ${path}`);
            if (reply.status < 400) {
              // Only an empty body (no changes) or JSON that parses to an acceptable object can pass (e.g. `{}` on a PUT;
              // a leading UTF-8 byte-order mark is allowed, as RFC 8259 lets a parser ignore it).
              if (text !== '') expect(() => JSON.parse(text.replace(/^\ufeff/, ''))).not.toThrow();
            }
            await checkEffect(before, reply, target.kind, target.token());
          }),
          { numRuns: Math.max(20, Math.round(RUNS / 2)), seed: Number(process.env.FUZZ_SEED ?? 7302) },
        );
      },
      600_000 + RUNS * 200,
    );
  }

  it('the API process keeps no error-level log line from hostile writes to every route (no unhandled failure)', async () => {
    // Its own traffic, so that it means something when run alone (jest -t) too: a short fuzz of every write route.
    const sent = { requests: 0, accepted: 0 };
    for (const [index, target] of TARGETS.entries()) {
      await fc.assert(
        fc.asyncProperty(target.path(), fc.oneof(bodyFor(target.fields, target.kind), brokenJson), async (path, body) => {
          const reply = await finalReply(await send(target.method, path, target.token(), body, typeof body === 'string'), target.token());
          sent.requests += 1;
          if (reply.status < 300) sent.accepted += 1;
        }),
        { numRuns: Math.max(10, Math.round(RUNS / 4)), seed: Number(process.env.FUZZ_SEED ?? 7303) + index },
      );
    }
    // A well-formed write of each kind, so that the worker side runs too.
    const created = await finalReply(
      await send('POST', `/v1/tenants/${SERVICE}/gateways`, tenantKey, { name: 'log-gw', proxy: 'sip.example.net', register: false }, false),
      tenantKey,
    );
    expect(created.status).toBe(201);
    expect(sent.requests).toBeGreaterThan(0);
    // Every line this process logged (the earlier tests' too, when the file runs whole).
    const errors = bridge.logLines.filter((line) => /"level":(50|60)/.test(line));
    expect(errors.slice(0, 5)).toEqual([]);
  }, 600_000);
});
