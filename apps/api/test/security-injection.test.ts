import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { buildEvent, postWebhook, type EslStandin } from '@ictvoip/testkit';
import type { RunningApi } from '../src';
import { startBridge, TEMPLATE_DOMAIN as TEMPLATE, type Bridge } from '../../worker/test/harness';

/**
 * Hostile strings through the whole pipeline (signed webhook → inbox → worker → FusionPBX → event
 * socket), with a real worker and the ESL stand-in recording every command block it receives.
 */
let bridge: Bridge;
let fusion: Pool;
let esl: EslStandin;
let api: RunningApi;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-inj-'));
  // A gateway template, so gateway names and commands are exercised too.
  writeFileSync(join(dir, 'provisioning.json'), JSON.stringify({ gatewayTemplates: { carrier: { proxy: 'sip.carrier.example', register: false } } }));
  bridge = await startBridge({ ESL_TIMEOUT_MS: '2000', JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '50', PROVISIONING_FILE: join(dir, 'provisioning.json') });
  api = await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  ({ fusion, esl } = bridge);
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

let nextServiceId = 880_000;

interface Outcome {
  status: number;
  result: string | undefined;
  retryable: unknown;
  serviceId: number;
}

/**
 * Runs `work` over every item, `lanes` at a time, results in item order. The creates of one test are
 * independent (a service each): sent a few at once, the worker takes them side by side (its concurrency is
 * 8) instead of one after another, and each still gets its own answer within its `?wait`.
 */
async function inLanes<T, R>(items: readonly T[], work: (item: T) => Promise<R>, lanes = 4): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
  return results;
}

/** Sends a create built by `shape` and waits for its outcome. */
async function create(shape: (event: Record<string, any>) => void): Promise<Outcome> {
  const serviceId = nextServiceId++;
  const event = buildEvent({ serviceId, plan: { maxExtensions: 2, firstExtension: 100, gatewayTemplate: 'carrier' } }) as Record<string, any>;
  shape(event);
  const reply = await postWebhook(api.url, JSON.stringify(event), { query: '?wait=20' });
  return { status: reply.status, result: reply.body.result as string | undefined, retryable: reply.body.retryable, serviceId };
}

const tenantRows = async (serviceId: number) =>
  (
    await fusion.query(
      `SELECT count(*)::int AS n FROM v_domain_settings WHERE domain_setting_category = 'ictvoip' AND domain_setting_subcategory = 'service_id' AND domain_setting_value = $1`,
      [String(serviceId)],
    )
  ).rows[0].n as number;

// What the bridge legitimately sends over the event socket; anything else is an injected command.
const ALLOWED_API = [
  /^switchname$/,
  /^status$/,
  /^memcache delete [A-Za-z0-9_.:@+*#-]+$/,
  /^sofia profile [A-Za-z0-9_.-]+ rescan$/,
  /^sofia profile [A-Za-z0-9_.-]+ (killgw|startgw) [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  /^sofia profile [A-Za-z0-9_.-]+ flush_inbound_reg [A-Za-z0-9_+*#.-]+@[a-z0-9.-]+ reboot$/,
];

function assertOnlyLegitimateCommands(): void {
  for (const block of esl.received) {
    const lines = block.split('\n');
    if (lines[0].startsWith('api ')) {
      expect(lines).toHaveLength(1);
      const command = lines[0].slice(4);
      expect(ALLOWED_API.some((pattern) => pattern.test(command)) ? command : `NOT ALLOWED: ${JSON.stringify(command)}`).toBe(command);
    } else {
      expect(lines[0]).toMatch(/^(auth \S+|event plain BACKGROUND_JOB|exit)$/);
    }
  }
}

const ESL_PAYLOADS = [
  'x\napi reloadxml',
  'x\n\napi hupall',
  'x\r\n\r\nbgapi originate user/1000 &park',
  'x reloadxml',
  'x;reloadxml',
  'x`reloadxml`',
  'x$(reloadxml)',
  'x%0aapi%20reloadxml',
  'x\u2028api reloadxml',
  'x\u0085api reloadxml',
  'x\tapi reloadxml',
];

// Every event field whose value can reach an event-socket command (directly or via a derived name).
const ESL_FIELDS: [string, (event: Record<string, any>, value: string) => void][] = [
  [
    'service.domain',
    (e, v) => {
      e.service.domain = `t1.example.com${v}`;
    },
  ],
  [
    'service.domain (payload first)',
    (e, v) => {
      e.service.domain = `${v}.example.com`;
    },
  ],
  [
    'service.username',
    (e, v) => {
      e.service.username = `admin${v}`;
    },
  ],
  [
    'plan.gatewayTemplate',
    (e, v) => {
      e.plan.gatewayTemplate = `carrier${v}`;
    },
  ],
  [
    'plan.brand',
    (e, v) => {
      e.plan.brand = `default${v}`;
    },
  ],
  [
    'configurableOptions firstExtension',
    (e, v) => {
      e.configurableOptions = { 'firstExtension|First extension': `200${v}` };
    },
  ],
  [
    'configurableOptions gateway template',
    (e, v) => {
      e.configurableOptions = { 'gatewayTemplate|Carrier': `carrier${v}` };
    },
  ],
  [
    'plan.firstExtension as a string',
    (e, v) => {
      e.plan.firstExtension = `100${v}`;
    },
  ],
  [
    'server.hostname',
    (e, v) => {
      e.server.hostname = `bridge${v}`;
    },
  ],
  [
    'client.companyName',
    (e, v) => {
      e.client.companyName = `Evil${v}`;
    },
  ],
];

describe('event-socket command injection', () => {
  it.each(ESL_FIELDS)(
    'through %s: refused or neutralised; the stand-in never receives a second command or a newline',
    async (_field, put) => {
      esl.clearRecorded();
      // Every block the stand-in received while this field's payloads were in flight is checked below.
      await inLanes(ESL_PAYLOADS, async (payload) => {
        const outcome = await create((event) => put(event, payload));
        expect(outcome.status).toBeLessThan(500);
        // Either the API refused it (400), or the job finished; never stuck or retrying forever.
        if (outcome.status === 200) expect(['success', 'error']).toContain(outcome.result);
        else expect(outcome.status).toBe(400);
        if (outcome.result === 'error') {
          expect(outcome.retryable).toBe(false);
          // Nothing half-written: a refused create leaves no tenant behind.
          expect(await tenantRows(outcome.serviceId)).toBe(0);
        }
      });
      assertOnlyLegitimateCommands();
      expect(esl.apiCommands.join('\n')).not.toMatch(/reloadxml|hupall|originate/);
    },
    120000,
  );

  it('a clean create through the same path does send commands (control)', async () => {
    esl.clearRecorded();
    const outcome = await create(() => undefined);
    expect(outcome.result).toBe('success');
    expect(esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:100@t${outcome.serviceId}.pbx.example.net`]));
    assertOnlyLegitimateCommands();
  });
});

const SQL_PAYLOADS = [
  "'; DROP TABLE webhook_inbox; --",
  "x' OR '1'='1",
  '1); DELETE FROM v_domains; --',
  '$$; DROP TABLE services; $$',
  "\\'; TRUNCATE audit_log; --",
  '" OR ""="',
  "%' AND pg_sleep(5) IS NULL --",
  "x'::jsonb || '{}",
  "Robert'); DROP TABLE v_extensions;--",
];

// Every text field of the webhook body, including open maps and unknown fields.
const SQL_FIELDS: [string, (event: Record<string, any>, value: string) => void][] = [
  [
    'service.domain',
    (e, v) => {
      e.service.domain = v;
    },
  ],
  [
    'service.username',
    (e, v) => {
      e.service.username = v;
    },
  ],
  [
    'service.status',
    (e, v) => {
      e.service.status = v;
    },
  ],
  [
    'client.email',
    (e, v) => {
      e.client.email = v;
    },
  ],
  [
    'client.companyName',
    (e, v) => {
      e.client.companyName = v;
    },
  ],
  [
    'client.firstName',
    (e, v) => {
      e.client.firstName = v;
    },
  ],
  [
    'client.lastName',
    (e, v) => {
      e.client.lastName = v;
    },
  ],
  [
    'server.hostname',
    (e, v) => {
      e.server.hostname = v;
    },
  ],
  [
    'plan.gatewayTemplate',
    (e, v) => {
      e.plan.gatewayTemplate = v;
    },
  ],
  [
    'plan.rateDeck',
    (e, v) => {
      e.plan.rateDeck = v;
    },
  ],
  [
    'plan.brand',
    (e, v) => {
      e.plan.brand = v;
    },
  ],
  [
    'plan.billingMode',
    (e, v) => {
      e.plan.billingMode = v;
    },
  ],
  [
    'customFields key and value',
    (e, v) => {
      e.customFields = { [v]: v };
    },
  ],
  [
    'configurableOptions key and value',
    (e, v) => {
      e.configurableOptions = { [`${v}|Label`]: v };
    },
  ],
  [
    'secrets.servicePassword',
    (e, v) => {
      e.secrets = { servicePassword: v };
    },
  ],
  [
    'an unknown top-level field',
    (e, v) => {
      e[v] = v;
    },
  ],
];

const NOT_CARRIED = new Set(['secrets.servicePassword', 'configurableOptions key and value']);

/** What existed before the SQL payloads were sent: its rows must stay exactly as they were. */
let baseline: { firstNew: number; oldDomains: string[]; bridge: Record<string, string>; fusion: Record<string, string> };

async function expectIntact(): Promise<void> {
  expect(await digest(api.deps.pool, 'service_id', baseline.firstNew)).toEqual(baseline.bridge);
  expect(await digest(fusion, 'domain_uuid', baseline.oldDomains)).toEqual(baseline.fusion);
  expect((await fusion.query('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [TEMPLATE])).rows[0].n).toBe(1);
}

describe('SQL injection strings in every webhook field', () => {
  beforeAll(async () => {
    // Tenants from the tests above (and the template) are what a payload could damage.
    const control = await create(() => undefined);
    expect(control.result).toBe('success');
    const firstNew = nextServiceId;
    const oldDomains = (await fusion.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains')).rows.map((row) => row.domain_uuid);
    baseline = { firstNew, oldDomains, bridge: await digest(api.deps.pool, 'service_id', firstNew), fusion: await digest(fusion, 'domain_uuid', oldDomains) };
    // Not vacuous: there are rows to damage.
    for (const table of ['v_domains', 'v_extensions', 'v_voicemails', 'v_domain_settings']) expect(baseline.fusion[table]).toMatch(/^[1-9]/);
    for (const table of ['services', 'webhook_inbox', 'audit_log']) expect(baseline.bridge[table]).toMatch(/^[1-9]/);
  }, 60000);

  it.each(SQL_FIELDS)(
    '%s: no 5xx, stored verbatim, nothing broken',
    async (field, put) => {
      await inLanes(SQL_PAYLOADS, async (payload) => {
        const outcome = await create((event) => put(event, payload));
        expect(outcome.status).toBeLessThan(500);
        if (outcome.status === 400) return;
        expect(['success', 'error']).toContain(outcome.result);
        const { rows } = await api.deps.pool.query('SELECT payload::text AS text, status FROM webhook_inbox WHERE service_id = $1', [outcome.serviceId]);
        expect(rows).toHaveLength(1);
        // Parameterised all the way: the hostile text is data, kept as sent (an unknown top-level field
        // under `received`). Not stored: the password (sealed) and an unknown configurable option.
        if (NOT_CARRIED.has(field)) expect(rows[0].text).not.toContain(JSON.stringify(payload).slice(1, -1));
        else expect(rows[0].text).toContain(JSON.stringify(payload).slice(1, -1));
      });
      await expectIntact();
    },
    120000,
  );

  it('every payload at once in the free-text fields, then the databases are intact (exact row counts and checksums)', async () => {
    const firstNew = nextServiceId;
    // A clean create first: what one tenant's rows are, per table.
    const control = await create(() => undefined);
    expect(control.result).toBe('success');
    const tenantShape = await tenantCounts(control.serviceId);
    expect(Object.values(tenantShape).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    await inLanes(SQL_PAYLOADS, async (payload) => {
      const outcome = await create((event) => {
        // Not the e-mail: ingest refuses a non-address with a 400 (the admin's rule), as the per-field test sees.
        Object.assign(event.client, { companyName: payload, firstName: payload, lastName: payload });
        event.customFields = { notes: payload };
        event.server.hostname = payload;
      });
      expect(outcome.status).toBe(200);
      expect(['success', 'error']).toContain(outcome.result);
      // A created tenant has exactly the rows a clean one has; a refused one has none.
      if (outcome.result === 'success') expect({ payload, counts: await tenantCounts(outcome.serviceId) }).toEqual({ payload, counts: tenantShape });
      else expect(await tenantRows(outcome.serviceId)).toBe(0);
    });
    // Everything that was there before (other tenants, the template, the bridge's rows of other services) is byte-for-byte as it was.
    await expectIntact();
    // The new services' bridge rows: one service row and one inbox row each, all of them there.
    const created = SQL_PAYLOADS.length + 1;
    expect((await api.deps.pool.query('SELECT count(*)::int AS n FROM webhook_inbox WHERE service_id >= $1', [firstNew])).rows[0].n).toBe(created);
  }, 300000);
});

/**
 * Row count and md5 of the rows (as text, ordered) of every table of a database, keeping only the
 * rows of what existed before the test: FusionPBX rows of the listed domains (or of no domain),
 * bridge rows of services below an id (or of no service). Tables without that column are whole.
 */
async function digest(pool: Pool, column: 'domain_uuid' | 'service_id', keep: string[] | number): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ table_name: string; scoped: boolean }>(
    `SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = $1) AS scoped
     FROM information_schema.tables t WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY t.table_name`,
    [column],
  );
  const out: Record<string, string> = {};
  for (const { table_name: table, scoped } of tables) {
    const filter = !scoped ? '' : column === 'domain_uuid' ? 'WHERE t.domain_uuid IS NULL OR t.domain_uuid = ANY($1::uuid[])' : 'WHERE t.service_id IS NULL OR t.service_id < $1';
    const { rows } = await pool.query<{ n: number; d: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d FROM "${table}" t ${filter}`,
      scoped ? [keep] : [],
    );
    out[table] = `${rows[0]!.n}:${rows[0]!.d}`;
  }
  return out;
}

/** Per FusionPBX table, how many rows the tenant of a service has. */
async function tenantCounts(serviceId: number): Promise<Record<string, number>> {
  const { rows: domains } = await fusion.query<{ domain_uuid: string }>(
    `SELECT domain_uuid FROM v_domain_settings WHERE domain_setting_category = 'ictvoip' AND domain_setting_subcategory = 'service_id' AND domain_setting_value = $1`,
    [String(serviceId)],
  );
  expect(domains).toHaveLength(1);
  const { rows: tables } = await fusion.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'domain_uuid' ORDER BY table_name`,
  );
  const out: Record<string, number> = {};
  for (const { table_name: table } of tables) {
    out[table] = (await fusion.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE domain_uuid = $1`, [domains[0]!.domain_uuid])).rows[0]!.n;
  }
  return out;
}
