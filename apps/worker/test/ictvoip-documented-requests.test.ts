import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, type Bridge } from './harness';
import { addFusionUser, bcryptOf, TIMESTAMP } from './compat-helpers';

// "A script written for ictVoIP's endpoints works unchanged" (issue #17): every request the
// ictVoIP docs show (ictvoip/ictvoip-docs, docs/source/), copied here verbatim, is run by the real
// curl through bash, only the docs' host replaced by the bridge's; each answer is compared with the
// documented example field by field (every documented field present, in the documented order, of
// the documented JSON type; the values the request decides equal to the documented ones).

const DOCS_HOSTS = /https:\/\/your-fusionpbx(-domain)?\.com/g;
const TENANT = 'yourdomain.com';
const SERVICE = 6101;

/** modules/fusionpbx/api_endpoints.rst, "Usage Example" blocks, with the "Response Format" blocks. */
const API_ENDPOINTS = {
  status: {
    command: `curl -X POST https://your-fusionpbx.com/app/status/index.php \\
      -d "username=admin&password=your-password"`,
    response: {
      status: 'success',
      message: 'System operational',
      timestamp: '2024-01-15T10:30:00Z',
      version: '5.3.8',
      uptime: '7 days, 3 hours',
      active_calls: 5,
      total_extensions: 150,
      registered_extensions: 142,
    },
  },
  registration: {
    command: `curl -X POST https://your-fusionpbx.com/app/registrations/check_registration.php \\
      -d "username=admin&password=your-password&extension=1001&tenant_domain=yourdomain.com"`,
    response: {
      status: 'success',
      message: 'Extension status retrieved',
      registered: 'yes',
      register_ip: '192.168.1.100',
      register_port: '5060',
      register_useragent: 'SIP Client/1.0',
    },
  },
  provision: {
    command: `curl -X POST https://your-fusionpbx.com/app/gateways/provision.php \\
      -d "username=admin&password=your-password&gateway_name=primary_gateway&gateway_domain=sip.provider.com&gateway_username=account&gateway_password=password"`,
    response: {
      status: 'success',
      message: 'Gateway configured successfully',
      gateway_uuid: '550e8400-e29b-41d4-a716-446655440000',
      gateway_name: 'primary_gateway',
      gateway_domain: 'sip.provider.com',
      gateway_enabled: 'true',
    },
  },
  provisionList: {
    command: `curl -X POST https://your-fusionpbx.com/app/gateways/provision_list.php \\
      -d "username=admin&password=your-password"`,
    response: {
      status: 'success',
      message: 'Gateways retrieved successfully',
      gateways: [
        {
          gateway_uuid: '550e8400-e29b-41d4-a716-446655440000',
          gateway_name: 'primary_gateway',
          gateway_domain: 'sip.provider.com',
          gateway_enabled: 'true',
          gateway_status: 'UP',
        },
      ],
    },
  },
  exportCdr: {
    command: `curl -X POST https://your-fusionpbx.com/app/xml_cdr/export_cdr.php \\
      -d "username=admin&password=your-password&date_start=2024-01-01&date_end=2024-01-31&format=JSON"`,
    response: { status: 'success', message: 'CDR export completed', total_records: 1250, date_range: '2024-01-01 to 2024-01-31', export_format: 'JSON' },
  },
};

/** api_endpoints.rst "Error Handling" and chkcon's "Response Examples". */
const ERROR_RESPONSE = { status: 'error', message: 'Descriptive error message', timestamp: '2024-01-15T10:30:00Z' };
const CHKCON_GRANTED = { success: 1, message: 'API Access Granted: Whitelisted IP' };

/** modules/fusionpbx/configuration.rst, "API Endpoints" (the same endpoints, other fields). */
const CONFIGURATION = {
  status: `curl -X POST https://your-fusionpbx.com/app/status/index.php \\
      -d "username=admin&password=your-password"`,
  registration: `curl -X POST https://your-fusionpbx.com/app/registrations/check_registration.php \\
      -d "username=admin&password=your-password&extension=1001&tenant_domain=yourdomain.com"`,
  provision: `curl -X POST https://your-fusionpbx.com/app/gateways/provision.php \\
      -d "username=admin&password=your-password&gateway_name=test_gateway"`,
  manage: `curl -X POST https://your-fusionpbx.com/app/extensions/manage.php \\
      -d "username=admin&password=your-password&action=create&extension=1002&domain=yourdomain.com"`,
  exportCdr: `curl -X POST https://your-fusionpbx.com/app/xml_cdr/export_cdr.php \\
      -d "username=admin&password=your-password&date_start=2024-01-01&date_end=2024-01-31"`,
};

/** admin/servers.rst, "Verify API accessibility" and "API Endpoint Testing". */
const SERVERS = {
  head: 'curl -I https://your-fusionpbx-domain.com/app/xml_cdr/chkcon.php',
  chkcon: 'curl -u username:password https://your-fusionpbx-domain.com/app/xml_cdr/chkcon.php',
  exportCdr: 'curl -u username:password https://your-fusionpbx-domain.com/app/xml_cdr/export_cdr.php',
};

/** modules/fusionpbx/troubleshooting.rst, the health check script's "Check API endpoints" line. */
const TROUBLESHOOTING_STATUS =
  'curl -s -o /dev/null -w "%{http_code}" https://your-fusionpbx.com/app/status/index.php | grep -q "200" && echo "✓ Status API: Accessible" || echo "✗ Status API: Not Accessible"';

let bridge: Bridge;
const run = promisify(execFile);

/** The documented command line run by bash as written, against the bridge. */
async function shell(command: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', command.replace(DOCS_HOSTS, bridge.url)], { encoding: 'utf8' });
  return stdout;
}

/** A documented curl request; `-w` only adds the status line after the body, the request is the docs'. */
async function curl(command: string): Promise<{ status: number; text: string; body: Record<string, unknown> }> {
  const out = await shell(`${command} -sS -w '\\n%{http_code}'`);
  const cut = out.lastIndexOf('\n');
  const text = out.slice(0, cut);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = {};
  }
  return { status: Number(out.slice(cut + 1)), text, body };
}

const jsonType = (value: unknown) => (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value);

/**
 * The documented example against the answer: the documented fields are all there, in the documented
 * order, of the same JSON type (a list's first entry compared the same way); `same` lists the fields
 * whose value the request decides, which must equal the documented value. Fields the bridge adds
 * are allowed. The one field out of order is export_cdr's total_records: the bridge streams the
 * records and writes their count after them, so it is what was written (JSON readers do not care).
 */
function expectLikeDocumented(actual: Record<string, unknown>, documented: Record<string, unknown>, same: readonly string[]): void {
  const ordered = (keys: string[]) => keys.filter((key) => key in documented && key !== 'total_records');
  expect(ordered(Object.keys(actual))).toEqual(ordered(Object.keys(documented)));
  for (const [key, value] of Object.entries(documented)) {
    expect([key, jsonType(actual[key])]).toEqual([key, jsonType(value)]);
    if (Array.isArray(value) && value.length > 0) {
      const entries = actual[key] as Record<string, unknown>[];
      expect(entries.length).toBeGreaterThan(0);
      for (const entry of entries) expectLikeDocumented(entry, value[0] as Record<string, unknown>, same);
    }
  }
  for (const key of same.filter((name) => name in documented)) expect([key, actual[key]]).toEqual([key, documented[key]]);
  if ('timestamp' in documented) expect(actual.timestamp).toMatch(TIMESTAMP);
}

async function createTenant(): Promise<void> {
  const event = buildEvent({
    serviceId: SERVICE,
    service: { id: SERVICE, pid: 3, domain: TENANT, username: 'admin', status: 'Pending' },
    plan: { maxExtensions: 1, firstExtension: 1001 },
  });
  const reply = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' });
  if (reply.body.result !== 'success') throw new Error(`create failed: ${JSON.stringify(reply.body)}`);
  // Room for the extension configuration.rst's example creates.
  await bridge.worker!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 5, "maxGateways": 3}'::jsonb WHERE service_id = $1`, [SERVICE]);
}

/** FreeSWITCH's registration of 1001@yourdomain.com with the documented contact (192.168.1.100:5060, "SIP Client/1.0"). */
function registrationOf1001(): string {
  return `<?xml version="1.0" encoding="ISO-8859-1"?>
<profile>
  <registrations>
    <registration>
        <call-id>doc-example-1001</call-id>
        <user>1001@${TENANT}</user>
        <contact>&quot;&quot; &lt;sip:1001@192.168.1.100:5060;transport=udp&gt;</contact>
        <agent>SIP Client/1.0</agent>
        <status>Registered(UDP)(unknown) exp(2025-05-13 18:29:38) expsecs(3598)</status>
        <host>pbx.example.net</host>
        <network-ip>192.168.1.100</network-ip>
        <network-port>5060</network-port>
        <sip-auth-user>1001</sip-auth-user>
        <sip-auth-realm>${TENANT}</sip-auth-realm>
        <mwi-account>1001@${TENANT}</mwi-account>
    </registration>
  </registrations>
</profile>
`;
}

async function addJanuaryCdrs(): Promise<void> {
  const [{ domain_uuid: domainUuid }] = (await bridge.fusion.query('select domain_uuid from v_domains where domain_name = $1', [TENANT])).rows;
  for (const start of ['2024-01-02 10:00:00+00', '2024-01-31 23:59:00+00']) {
    await bridge.fusion.query(
      `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_name, caller_id_number, destination_number, start_stamp, end_stamp, duration, billsec, hangup_cause)
       values ($1, $2, $3, 'outbound', 'a', 'Front Desk', '1001', '15195550100', $4::timestamptz, $4::timestamptz + interval '1 minute', 60, 55, 'NORMAL_CLEARING')`,
      [randomUUID(), domainUuid, TENANT, start],
    );
  }
}

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', API_WRITE_WAIT_MS: '5000', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  await createTenant();
  // The docs' credentials: admin / your-password, and servers.rst's literal username:password.
  await addFusionUser(bridge, 'admin', { password: bcryptOf('your-password'), salt: null }, ['superadmin']);
  await addFusionUser(bridge, 'username', { password: bcryptOf('password'), salt: null }, ['superadmin']);
  bridge.esl.respond("sofia xmlstatus profile 'internal' reg", registrationOf1001());
  bridge.esl.respond('show calls count', '\n5 total.\n');
  await addJanuaryCdrs();
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

describe('api_endpoints.rst: each usage example answers like its response format', () => {
  it('status', async () => {
    const reply = await curl(API_ENDPOINTS.status.command);
    expect(reply.status).toBe(200);
    expectLikeDocumented(reply.body, API_ENDPOINTS.status.response, ['status', 'message', 'active_calls']);
    expect(reply.body.uptime).toMatch(/^\d+ (day|hour)s?, \d+ (hour|minute)s?$/);
  });

  it('check_registration: the registered contact, value for value', async () => {
    const reply = await curl(API_ENDPOINTS.registration.command);
    expect(reply.status).toBe(200);
    expectLikeDocumented(reply.body, API_ENDPOINTS.registration.response, Object.keys(API_ENDPOINTS.registration.response));
  });

  it('provision: names no tenant, so it writes a global gateway (domain "Global", as ictVoIP run by the superadmin does), then provision_list as documented', async () => {
    const provision = await curl(API_ENDPOINTS.provision.command);
    expect(provision.status).toBe(200);
    expectLikeDocumented(provision.body, API_ENDPOINTS.provision.response, ['status', 'message', 'gateway_name', 'gateway_domain', 'gateway_enabled']);
    expect(provision.body.gateway_uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const rows = await bridge.fusion.query("select gateway_uuid::text, domain_uuid from v_gateways where gateway = 'primary_gateway'");
    expect(rows.rows).toEqual([{ gateway_uuid: provision.body.gateway_uuid, domain_uuid: null }]);
    bridge.esl.respond(
      `sofia xmlstatus gateway ${String(provision.body.gateway_uuid)}`,
      `<gateway><name>${String(provision.body.gateway_uuid)}</name><state>REGED</state><status>UP</status></gateway>\n`,
    );
    const list = await curl(API_ENDPOINTS.provisionList.command);
    expect(list.status).toBe(200);
    expectLikeDocumented(list.body, API_ENDPOINTS.provisionList.response, ['status', 'message', 'gateway_name', 'gateway_domain', 'gateway_enabled', 'gateway_status']);
    expect((list.body.gateways as Record<string, unknown>[])[0]!.gateway_uuid).toBe(provision.body.gateway_uuid);
    // The same line again is the same gateway.
    expect((await curl(API_ENDPOINTS.provision.command)).body.gateway_uuid).toBe(provision.body.gateway_uuid);
    expect((await bridge.fusion.query("select 1 from v_gateways where gateway = 'primary_gateway'")).rows).toHaveLength(1);
  });

  it('provision with a tenant added writes that tenant’s gateway of the name, apart from the global one', async () => {
    const provision = await curl(`${API_ENDPOINTS.provision.command.slice(0, -1)}&tenant_domain=${TENANT}"`);
    expect(provision.status).toBe(200);
    expectLikeDocumented(provision.body, API_ENDPOINTS.provision.response, ['status', 'message', 'gateway_name', 'gateway_domain', 'gateway_enabled']);
    const rows = await bridge.fusion.query(
      "select d.domain_name from v_gateways g left join v_domains d using (domain_uuid) where g.gateway = 'primary_gateway' order by d.domain_name nulls first",
    );
    expect(rows.rows).toEqual([{ domain_name: null }, { domain_name: TENANT }]);
  });

  it('export_cdr: the documented envelope, then the records', async () => {
    const reply = await curl(API_ENDPOINTS.exportCdr.command);
    expect(reply.status).toBe(200);
    expectLikeDocumented(reply.body, API_ENDPOINTS.exportCdr.response, ['status', 'message', 'date_range', 'export_format']);
    expect(reply.body.total_records).toBe(2);
    expect(reply.body.records).toHaveLength(2);
  });
});

describe('configuration.rst: the same endpoints with its fields', () => {
  it('status and check_registration answer as in api_endpoints.rst', async () => {
    expectLikeDocumented((await curl(CONFIGURATION.status)).body, API_ENDPOINTS.status.response, ['status', 'message']);
    expectLikeDocumented((await curl(CONFIGURATION.registration)).body, API_ENDPOINTS.registration.response, Object.keys(API_ENDPOINTS.registration.response));
  });

  it('manage.php creates extension 1002 in yourdomain.com; the same request again leaves one', async () => {
    const first = await curl(CONFIGURATION.manage);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'success', message: 'Extension created successfully', action: 'create', extension: '1002', domain: TENANT, enabled: 'true' });
    expect(first.body.timestamp).toMatch(TIMESTAMP);
    const again = await curl(CONFIGURATION.manage);
    expect(again.body).toMatchObject({ status: 'success', message: 'Extension unchanged', extension_uuid: first.body.extension_uuid });
    const rows = await bridge.fusion.query("select 1 from v_extensions e join v_domains d using (domain_uuid) where d.domain_name = $1 and e.extension = '1002'", [TENANT]);
    expect(rows.rows).toHaveLength(1);
  });

  it('provision.php with only a gateway name is refused in the documented error format, naming the first missing field', async () => {
    const reply = await curl(CONFIGURATION.provision);
    expect(reply.status).toBe(400);
    expect(Object.keys(reply.body)).toEqual(Object.keys(ERROR_RESPONSE));
    expect(reply.body.message).toBe('Missing Parameters: gateway_domain is required');
  });

  it('export_cdr.php without a format is JSON', async () => {
    const reply = await curl(CONFIGURATION.exportCdr);
    expectLikeDocumented(reply.body, API_ENDPOINTS.exportCdr.response, ['status', 'message', 'date_range', 'export_format']);
  });
});

describe('servers.rst: the checks it runs with curl -I and curl -u (GET requests)', () => {
  it('curl -I chkcon.php: 200, JSON', async () => {
    const head = await shell(SERVERS.head);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(/^content-type: application\/json/im);
  });

  it('curl -u … chkcon.php: the documented "granted" answer', async () => {
    const reply = await curl(SERVERS.chkcon);
    expect(reply.status).toBe(200);
    expectLikeDocumented(reply.body, CHKCON_GRANTED, Object.keys(CHKCON_GRANTED));
  });

  it('curl -u … export_cdr.php: the credentials are checked (a wrong one is 401), then the missing dates named, in the envelope', async () => {
    const reply = await curl(SERVERS.exportCdr);
    expect(reply.status).toBe(400);
    expect(Object.keys(reply.body)).toEqual(Object.keys(ERROR_RESPONSE));
    expect(reply.body).toMatchObject({ status: 'error', message: 'Missing Parameters: date_start is required' });
    const wrong = await curl(SERVERS.exportCdr.replace('username:password', 'username:guess'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.message).toBe('Authentication Failed: Invalid credentials');
  });

  it('a GET reads its query string as the form: export_cdr.php?date_start=…&date_end=… answers as its POST', async () => {
    const reply = await curl(`${SERVERS.exportCdr}'?date_start=2024-01-01&date_end=2024-01-31'`);
    expect(reply.status).toBe(200);
    expectLikeDocumented(reply.body, API_ENDPOINTS.exportCdr.response, ['status', 'message', 'date_range', 'export_format']);
    expect(reply.body.total_records).toBe(2);
  });

  it('the status page checks credentials a GET carries, as its POST does (none: open to whitelisted peers)', async () => {
    expect((await curl(`curl -u username:guess ${bridge.url}/app/status/index.php`)).status).toBe(401);
    const good = await curl(`curl -u username:password ${bridge.url}/app/status/index.php`);
    expectLikeDocumented(good.body, API_ENDPOINTS.status.response, ['status', 'message']);
  });

  it('a GET never writes, and credentials in a URL are refused without being echoed', async () => {
    const write = await curl(`curl -u username:password '${bridge.url}/app/extensions/manage.php?action=create&extension=1003&domain=${TENANT}'`);
    expect(write.status).toBe(405);
    expect(write.body).toMatchObject({ status: 'error', message: 'Invalid Request: this endpoint changes FusionPBX; send it as a POST' });
    expect((await bridge.fusion.query("select 1 from v_extensions where extension = '1003'")).rows).toHaveLength(0);
    const inUrl = await curl(`curl '${bridge.url}/app/xml_cdr/export_cdr.php?username=admin&password=your-password&date_start=2024-01-01&date_end=2024-01-31'`);
    expect(inUrl.status).toBe(400);
    expect(inUrl.body.message).toBe('Invalid Request: username and password go in the POST body or as HTTP Basic (curl -u), never in the URL');
    expect(inUrl.text).not.toContain('your-password');
  });
});

describe('troubleshooting.rst: the health check line', () => {
  it('prints "✓ Status API: Accessible"', async () => {
    expect(await shell(TROUBLESHOOTING_STATUS)).toBe('✓ Status API: Accessible\n');
  });
});
