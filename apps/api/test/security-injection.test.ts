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
      for (const payload of ESL_PAYLOADS) {
        esl.clearRecorded();
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
        assertOnlyLegitimateCommands();
        expect(esl.apiCommands.join('\n')).not.toMatch(/reloadxml|hupall|originate/);
      }
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

const NOT_CARRIED = new Set(['secrets.servicePassword', 'configurableOptions key and value', 'an unknown top-level field']);

describe('SQL injection strings in every webhook field', () => {
  it.each(SQL_FIELDS)(
    '%s: no 5xx, stored verbatim, nothing broken',
    async (field, put) => {
      for (const payload of SQL_PAYLOADS.slice(0, 4)) {
        const serviceId = nextServiceId;
        const outcome = await create((event) => put(event, payload));
        expect(outcome.status).toBeLessThan(500);
        if (outcome.status === 400) continue;
        expect(['success', 'error']).toContain(outcome.result);
        const { rows } = await api.deps.pool.query('SELECT payload::text AS text, status FROM webhook_inbox WHERE service_id = $1', [serviceId]);
        expect(rows).toHaveLength(1);
        // Parameterised all the way: the hostile text is data, kept as sent. Not stored: the password
        // (sealed), and what the command does not carry (an unknown option, an unknown top-level key).
        if (NOT_CARRIED.has(field)) expect(rows[0].text).not.toContain(JSON.stringify(payload).slice(1, -1));
        else expect(rows[0].text).toContain(JSON.stringify(payload).slice(1, -1));
      }
    },
    120000,
  );

  it('every payload at once in the free-text fields, then the databases are intact', async () => {
    for (const payload of SQL_PAYLOADS) {
      const outcome = await create((event) => {
        Object.assign(event.client, { companyName: payload, firstName: payload, lastName: payload, email: payload });
        event.customFields = { notes: payload };
        event.server.hostname = payload;
      });
      expect(outcome.status).toBe(200);
      expect(['success', 'error']).toContain(outcome.result);
    }
    for (const table of ['webhook_inbox', 'services', 'audit_log']) {
      expect((await api.deps.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBeGreaterThan(0);
    }
    for (const table of ['v_domains', 'v_extensions']) {
      expect((await fusion.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBeGreaterThan(0);
    }
    expect((await fusion.query('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [TEMPLATE])).rows[0].n).toBe(1);
  }, 120000);
});
