import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { logRecords, startBridge, type Bridge } from '../../worker/test/harness';
import { parseCallsCount, summedCount, uptimeText, whmcsStatusText, whmcsUptime } from '../src/routes/status';

let bridge: Bridge;
let calls = '3 total.\n';
const A = 7301;
const B = 7302;
const DOMAIN_A = 'status-a.pbx.test';
const DOMAIN_B = 'status-b.pbx.test';
const OUTSIDER = { 'x-forwarded-for': '198.51.100.7' };

async function getStatus(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${bridge.url}${path}`, { method, headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function seedTenant(serviceId: number, domain: string, desiredState: string, extensions: [string, boolean][]): Promise<void> {
  await bridge.api!.deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES ($1, 1, $2, $3)`, [serviceId, domain, desiredState]);
  const domainUuid = randomUUID();
  await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, domain]);
  for (const [extension, enabled] of extensions) {
    await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, enabled) values ($1, $2, $3, $4)`, [
      randomUUID(),
      domainUuid,
      extension,
      String(enabled),
    ]);
  }
}

beforeAll(async () => {
  // The test client is 127.0.0.1 (whitelisted); behind the trusted loopback proxy, X-Forwarded-For names an outsider.
  bridge = await startBridge({ TRUST_PROXY: '127.0.0.1', STATUS_RATE_LIMIT: '40', API_RATE_LIMIT_WINDOW_SECONDS: '3600' });
  await bridge.startApi();
  await seedTenant(A, DOMAIN_A, 'active', [
    ['101', true],
    ['102', true],
    ['103', false],
  ]);
  await seedTenant(B, DOMAIN_B, 'suspended', [['201', true]]);
  const registration = (extension: string, registered: boolean) =>
    bridge.api!.deps.pool.query(
      `INSERT INTO registrations (server, domain, extension, service_id, registered, last_change, last_polled_at) VALUES ('default', $1, $2, $3, $4, now(), now())`,
      [DOMAIN_A, extension, A, registered],
    );
  // FusionPBX's own row (core/software/app_defaults.php writes it at every upgrade): its version.
  await bridge.fusion.query(
    "insert into v_software (software_uuid, software_name, software_url, software_version) values ('7de057e7-333b-4ebf-9466-315ae7d44efd', 'FusionPBX', 'https://www.fusionpbx.com', '5.3.8')",
  );
  await registration('101', true);
  await registration('102', false);
  bridge.esl.respond('show calls count', () => calls);
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

describe('parsers', () => {
  it('reads FreeSWITCH show calls count and writes ictVoIP uptime text', () => {
    expect(parseCallsCount('\n3 total.\n')).toBe(3);
    expect(parseCallsCount('0 total.')).toBe(0);
    expect(() => parseCallsCount('-ERR no reply')).toThrow(/unexpected reply/);
    expect(uptimeText(7 * 86400 + 3 * 3600 + 59)).toBe('7 days, 3 hours');
    expect(uptimeText(86400 + 3600)).toBe('1 day, 1 hour');
    expect(uptimeText(125)).toBe('0 hours, 2 minutes');
  });
});

describe("WHMCS's server-status text", () => {
  it('writes <load> and <uptime> the way the stock WHMCS status script does', () => {
    expect(whmcsUptime(7 * 86400 + 3 * 3600 + 12 * 60 + 5)).toBe('7 Days 03:12:05');
    expect(whmcsUptime(59)).toBe('0 Days 00:00:59');
    expect(whmcsStatusText({ load: 0.5, uptimeSeconds: 3661, activeCalls: 3, totalExtensions: 2, registeredExtensions: 1 })).toBe(
      '<load>0.50</load>\n<uptime>0 Days 01:01:01</uptime>\n<active_calls>3</active_calls>\n<total_extensions>2</total_extensions>\n<registered_extensions>1</registered_extensions>\n',
    );
  });

  it('sums a count over the servers that answered it, and leaves out one no server answered', () => {
    const server = (name: string, active_calls: number | null) => ({ name, active_calls, total_extensions: 1, registered_extensions: 0 });
    expect(summedCount([server('a', 2), server('b', null)], 'active_calls')).toBe(2);
    expect(summedCount([server('a', null), server('b', null)], 'active_calls')).toBeNull();
    expect(summedCount([server('a', null)], 'registered_extensions')).toBe(0);
    expect(whmcsStatusText({ load: 0, uptimeSeconds: 1, activeCalls: null, totalExtensions: 2, registeredExtensions: 0 })).toBe(
      '<load>0.00</load>\n<uptime>0 Days 00:00:01</uptime>\n<total_extensions>2</total_extensions>\n<registered_extensions>0</registered_extensions>\n',
    );
  });
});

describe('GET /status (ictVoIP /app/status/index.php)', () => {
  it('answers a whitelisted caller with ictVoIP field names and types, on every path', async () => {
    for (const path of ['/status', '/app/status/', '/app/status/index.php']) {
      // ictVoIP's page answers its API request (a POST) in JSON; a bare GET there is WHMCS's (below).
      const { status, body } = await getStatus(path, {}, path === '/status' ? 'GET' : 'POST');
      expect(status).toBe(200);
      expect(body).toMatchObject({
        status: 'success',
        message: 'System operational',
        version: '5.3.8',
        bridge_version: '0.1.0',
        active_calls: 3,
        total_extensions: 2,
        registered_extensions: 1,
        servers: [{ name: 'default', active_calls: 3, total_extensions: 2, registered_extensions: 1 }],
      });
      expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(body.uptime).toMatch(/^\d+ (day|hour)s?, \d+ (hour|minute)s?$/);
      expect(typeof body.uptime_seconds).toBe('number');
      expect((body.servers as Record<string, unknown>[])[0]).not.toHaveProperty('error');
    }
    // ictVoIP's clients POST.
    expect((await getStatus('/app/status/index.php', {}, 'POST')).body.status).toBe('success');
    const openapi = (await getStatus('/openapi.json')).body as { paths: Record<string, { get?: unknown }> };
    expect(openapi.paths['/status']?.get).toBeDefined();
  });

  it("answers FusionPBX's version as `version` (ictVoIP's 5.3.8 is FusionPBX's), the bridge's as `bridge_version`", async () => {
    const answered = await getStatus('/status');
    expect(answered.body).toMatchObject({ status: 'success', version: '5.3.8', bridge_version: '0.1.0' });
    expect((answered.body.servers as Record<string, unknown>[])[0]).toMatchObject({ name: 'default', version: '5.3.8' });
    // An install whose upgrade never wrote it: unknown, said as "" (a string, as ictVoIP's field is), not the bridge's version.
    await bridge.fusion.query("delete from v_software where software_name = 'FusionPBX'");
    try {
      const unknown = await getStatus('/app/status/index.php', {}, 'POST');
      expect(unknown.body).toMatchObject({ status: 'success', version: '', bridge_version: '0.1.0' });
      expect((unknown.body.servers as Record<string, unknown>[])[0]).toMatchObject({ name: 'default', version: null });
    } finally {
      await bridge.fusion.query(
        "insert into v_software (software_uuid, software_name, software_url, software_version) values ('7de057e7-333b-4ebf-9466-315ae7d44efd', 'FusionPBX', 'https://www.fusionpbx.com', '5.3.8')",
      );
    }
  });

  it('refuses a caller outside the whitelist (403), unless it presents the admin token', async () => {
    const denied = await getStatus('/status', OUTSIDER);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ status: 'error', message: 'API Access Denied: Only whitelisted IPs may access this endpoint.' });
    expect(denied.body).not.toHaveProperty('active_calls');
    expect((await getStatus('/app/status/', { ...OUTSIDER, authorization: 'Bearer wrong' })).status).toBe(403);
    const admitted = await getStatus('/app/status/', { ...OUTSIDER, authorization: `Bearer ${bridge.config.adminToken}` });
    expect(admitted.status).toBe(200);
    expect(admitted.body.status).toBe('success');
  });

  it('an event socket that fails counts as null for its server and makes the status "error"', async () => {
    calls = '-ERR command not found\n';
    const odd = await getStatus('/status');
    // No server answered the call count: null, not a 0 a graph would read as "no calls".
    expect(odd.body).toMatchObject({ status: 'error', active_calls: null, total_extensions: 2, registered_extensions: 1 });
    const text = await (await fetch(`${bridge.url}/status?format=whmcs`)).text();
    expect(text).toContain('<total_extensions>2</total_extensions>');
    expect(text).not.toContain('<active_calls>');
    expect((odd.body.servers as Record<string, unknown>[])[0]).toMatchObject({ name: 'default', active_calls: null, total_extensions: 2 });
    expect(String(odd.body.message)).toMatch(/default/);
    calls = '3 total.\n';
    await bridge.esl.stop();
    try {
      const down = await getStatus('/status');
      expect(down.status).toBe(200);
      expect(down.body.status).toBe('error');
      expect((down.body.servers as Record<string, unknown>[])[0]).toMatchObject({
        active_calls: null,
        total_extensions: 2,
        registered_extensions: 1,
        error: expect.stringMatching(/event socket/),
      });
    } finally {
      await bridge.esl.start();
    }
  }, 20000);

  it('answers the WHMCS server-status text on /status/whmcs/ (with or without index.php), on ?format=whmcs and to Accept: text/plain', async () => {
    for (const [path, headers] of [
      ['/status/whmcs/', {}],
      ['/status/whmcs/index.php', {}],
      // The WHMCS paths answer the text whatever format is asked (a Server Status Address is that text).
      ['/status/whmcs/?format=json', {}],
      ['/app/status/?format=whmcs', {}],
      ['/status', { accept: 'text/plain' }],
    ] as [string, Record<string, string>][]) {
      const response = await fetch(`${bridge.url}${path}`, { headers });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      expect(text).toMatch(/^<load>\d+\.\d\d<\/load>\n<uptime>\d+ Days \d\d:\d\d:\d\d<\/uptime>\n/);
      expect(text).toContain('<active_calls>3</active_calls>');
      expect(text).toContain('<registered_extensions>1</registered_extensions>');
    }
    // A browser's Accept (html, then */*) still gets JSON.
    const browser = await fetch(`${bridge.url}/status`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    await browser.body?.cancel();
    expect(browser.headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${bridge.url}/status/whmcs/`, { headers: OUTSIDER }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(403);
  });

  it("answers WHMCS's own fetch of ictVoIP's Server Status Address (/app/status/, fetched as GET index.php) with the text its widget reads", async () => {
    // ictVoIP's /app/status/index.php is WHMCS's stock status script (servers.rst, installation.rst), and
    // its docs point WHMCS's Server Status Address at https://<pbx>/app/status/. WHMCS fetches
    // <address>index.php with PHP's curl (a GET, no credentials, curl's Accept: */*) and reads <load>
    // and <uptime> with preg_match: the request and the reading are done here by PHP itself.
    // Asynchronously: the bridge answering it runs in this process.
    const whmcsFetch = async (address: string) =>
      (
        await promisify(execFile)(
          'php',
          [
            '-r',
            `$ch = curl_init($argv[1] . 'index.php'); curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1); curl_setopt($ch, CURLOPT_TIMEOUT, 5);
           $content = curl_exec($ch); $code = curl_getinfo($ch, CURLINFO_HTTP_CODE);
           preg_match('/<load>(.*)<\\/load>/', $content, $load); preg_match('/<uptime>(.*)<\\/uptime>/', $content, $uptime);
           echo json_encode(['code' => $code, 'load' => $load[1] ?? null, 'uptime' => $uptime[1] ?? null]);`,
            '--',
            address,
          ],
          { encoding: 'utf8' },
        )
      ).stdout;
    for (const address of [`${bridge.url}/app/status/`]) {
      const seen = JSON.parse(await whmcsFetch(address)) as { code: number; load: string | null; uptime: string | null };
      expect({ address, ...seen }).toEqual({ address, code: 200, load: expect.stringMatching(/^\d+\.\d\d$/), uptime: expect.stringMatching(/^\d+ Days \d\d:\d\d:\d\d$/) });
    }
    // The same page asked as ictVoIP's API documents it (a POST, or credentials, or JSON asked for) stays JSON.
    expect((await getStatus('/app/status/index.php', {}, 'POST')).body).toMatchObject({ status: 'success', total_extensions: 2 });
    expect((await getStatus('/app/status/index.php', { accept: 'application/json' })).body).toMatchObject({ status: 'success', total_extensions: 2 });
    expect((await getStatus('/app/status/?format=json')).body).toMatchObject({ status: 'success', total_extensions: 2 });
    expect((await getStatus('/app/status/', { authorization: `Bearer ${bridge.config.adminToken}` })).body).toMatchObject({ status: 'success' });
    // The bridge's own /status keeps answering JSON to the same request.
    expect((await getStatus('/status')).body).toMatchObject({ status: 'success', total_extensions: 2 });
  });

  it('refuses a format it does not speak (400 naming format; json, whmcs and text are the ones it does)', async () => {
    for (const query of ['?format=bogus', '?format=xml', '?format=json&format=whmcs']) {
      const response = await fetch(`${bridge.url}/status${query}`);
      expect({ query, status: response.status }).toEqual({ query, status: 400 });
      expect(await response.json()).toMatchObject({ status: 'error', message: 'Invalid Request: format must be one of json, whmcs, text' });
    }
    expect((await fetch(`${bridge.url}/status?format=JSON`).then(async (res) => (await res.body?.cancel(), res))).status).toBe(200);
  });

  it('carries X-RateLimit-* per caller and answers 429 with Retry-After past STATUS_RATE_LIMIT; the admin token is not limited', async () => {
    const first = await fetch(`${bridge.url}/status`);
    await first.body?.cancel();
    expect(first.headers.get('x-ratelimit-limit')).toBe('40');
    const remaining = Number(first.headers.get('x-ratelimit-remaining'));
    expect(remaining).toBeGreaterThan(0);
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000 - 1);
    for (let index = 0; index < remaining; index += 1) {
      const page = await fetch(`${bridge.url}/status/whmcs/`);
      await page.body?.cancel();
      expect(page.status).toBe(200);
    }
    const limited = await fetch(`${bridge.url}/app/status/`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    // ictVoIP's error envelope, its message starting with the documented error name "Rate Limited".
    const body = (await limited.json()) as Record<string, string>;
    expect(Object.keys(body)).toEqual(['status', 'message', 'timestamp']);
    expect(body).toMatchObject({ status: 'error', message: 'Rate Limited: rate limit of 40 requests per 3600 s exceeded for this address' });
    const admin = await fetch(`${bridge.url}/status`, { headers: { authorization: `Bearer ${bridge.config.adminToken}` } });
    await admin.body?.cancel();
    expect(admin.status).toBe(200);
    expect(admin.headers.get('x-ratelimit-limit')).toBeNull();
  }, 30000);

  it("logs a 500 once with its code and request id, never the admin token (the bridge's services table unreadable)", async () => {
    // A real fault: the table the status reads is gone for a moment (the admin token: the 429 test spent the address's limit).
    await bridge.api!.deps.pool.query('ALTER TABLE services RENAME TO services_away');
    try {
      const requestId = `status-500-${Date.now()}`;
      const reply = await fetch(`${bridge.url}/status?format=json`, { headers: { authorization: `Bearer ${bridge.config.adminToken}`, 'x-request-id': requestId } });
      expect(reply.status).toBe(500);
      expect(await reply.json()).toMatchObject({ status: 'error', message: 'Server Error' });
      const logged = logRecords(bridge, (record) => record.requestId === requestId);
      expect(logged).toEqual([expect.objectContaining({ level: 50, status: 500, code: 'INTERNAL', method: 'GET', path: '/status', msg: 'status failed' })]);
      expect(bridge.logLines.join('\n')).not.toContain(bridge.config.adminToken);
    } finally {
      await bridge.api!.deps.pool.query('ALTER TABLE services_away RENAME TO services');
    }
  });
});
