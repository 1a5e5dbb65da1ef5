import { renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { startTestApi, type TestApi } from './harness';

const GRANTED = 'API Access Granted: Whitelisted IP';
const DENIED = 'API Access Denied: Only whitelisted IPs may access this endpoint.';

/** GET chkcon over a real socket to `host` (IPv4 or IPv6 literal), with optional extra headers. */
function chkcon(
  host: string,
  port: number,
  headers: Record<string, string | string[]> = {},
  method = 'GET',
): Promise<{ status: number; body: { success: number; message: string; ip: string } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/app/xml_cdr/chkcon.php', method, headers, family: host.includes(':') ? 6 : 4 }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const portOf = (t: TestApi) => Number(new URL(t.url).port);

describe('X-Forwarded-For from a peer that is not a trusted proxy', () => {
  // 127.0.0.1 (the test client) is NOT whitelisted; the header claims a whitelisted address.
  const whitelist = '192.0.2.10\n2001:db8::10\n';
  const spoofs: [string, Record<string, string | string[]>][] = [
    ['X-Forwarded-For: whitelisted v4', { 'x-forwarded-for': '192.0.2.10' }],
    ['X-Forwarded-For: whitelisted v6', { 'x-forwarded-for': '2001:db8::10' }],
    ['X-Forwarded-For: chain ending in a whitelisted address', { 'x-forwarded-for': '198.51.100.7, 192.0.2.10' }],
    ['X-Forwarded-For: two headers', { 'x-forwarded-for': ['192.0.2.10', '192.0.2.10'] }],
    ['X-Real-IP', { 'x-real-ip': '192.0.2.10' }],
    ['Forwarded: for=', { forwarded: 'for=192.0.2.10;proto=https' }],
    ['X-Client-IP / True-Client-IP / CF-Connecting-IP', { 'x-client-ip': '192.0.2.10', 'true-client-ip': '192.0.2.10', 'cf-connecting-ip': '192.0.2.10' }],
  ];

  describe('TRUST_PROXY off (default)', () => {
    let t: TestApi;
    beforeAll(async () => {
      t = await startTestApi({}, whitelist);
    });
    afterAll(() => t.close());
    it.each(spoofs)('%s is ignored: 403, the socket address is reported', async (_name, headers) => {
      const reply = await chkcon('127.0.0.1', portOf(t), headers);
      expect(reply).toEqual({ status: 403, body: { success: 0, message: DENIED, ip: '127.0.0.1' } });
    });
  });

  describe('TRUST_PROXY naming other proxies (the peer is not one of them)', () => {
    let t: TestApi;
    beforeAll(async () => {
      t = await startTestApi({ TRUST_PROXY: '10.0.0.0/8, 2001:db8:ffff::/48' }, whitelist);
    });
    afterAll(() => t.close());
    it.each(spoofs)('%s is ignored: 403', async (_name, headers) => {
      const reply = await chkcon('127.0.0.1', portOf(t), headers);
      expect(reply.status).toBe(403);
      expect(reply.body.ip).toBe('127.0.0.1');
    });
  });

  describe('TRUST_PROXY=loopback (control: a trusted peer does hand over to the header)', () => {
    let t: TestApi;
    beforeAll(async () => {
      t = await startTestApi({ TRUST_PROXY: 'loopback' }, whitelist);
    });
    afterAll(() => t.close());
    it('the forwarded whitelisted client is granted', async () => {
      expect(await chkcon('127.0.0.1', portOf(t), { 'x-forwarded-for': '192.0.2.10' })).toEqual({ status: 200, body: { success: 1, message: GRANTED, ip: '192.0.2.10' } });
    });
    it('a client cannot prepend a whitelisted address to get through the trusted proxy', async () => {
      const reply = await chkcon('127.0.0.1', portOf(t), { 'x-forwarded-for': '192.0.2.10, 198.51.100.7' });
      expect(reply).toEqual({ status: 403, body: { success: 0, message: DENIED, ip: '198.51.100.7' } });
    });
    // Azure Application Gateway, IIS ARR and some nginx set-ups write `address:port` (IPv6 bracketed).
    // Express's proxy-addr would hand back the text verbatim (req.ip "192.0.2.10:5678"); the whitelist
    // must read the address without the port.
    it.each([
      ['IPv4 with a port', '192.0.2.10:5678', 200, '192.0.2.10'],
      ['bracketed IPv6 with a port', '[2001:db8::10]:5678', 200, '2001:db8::10'],
      ['bracketed IPv6 without a port', '[2001:db8::10]', 200, '2001:db8::10'],
      ['a bare IPv6 (its last group is not a port)', '2001:db8::10', 200, '2001:db8::10'],
      ['a bare IPv6 ending in a port-like group is not cut', '2001:db8::10:5678', 403, '2001:db8::10:5678'],
      ['an outsider with a port', '198.51.100.7:443', 403, '198.51.100.7'],
      ['a port on a prepended whitelisted address does not get through', '192.0.2.10:1, 198.51.100.7:2', 403, '198.51.100.7'],
      ['a port that is not a number is not an address', '192.0.2.10:http', 403, '192.0.2.10:http'],
    ] as const)('X-Forwarded-For %s (%s) → %i', async (_name, header, status, ip) => {
      const reply = await chkcon('127.0.0.1', portOf(t), { 'x-forwarded-for': header });
      expect(reply).toEqual({ status, body: { success: status === 200 ? 1 : 0, message: status === 200 ? GRANTED : DENIED, ip } });
    });
    it('the RFC 7239 Forwarded header is not read: without X-Forwarded-For the proxy itself is the client', async () => {
      const reply = await chkcon('127.0.0.1', portOf(t), { forwarded: 'for=192.0.2.10;proto=https' });
      expect(reply).toEqual({ status: 403, body: { success: 0, message: DENIED, ip: '127.0.0.1' } });
    });
  });
});

describe('IPv6 and IPv4-mapped peers on a dual-stack socket (listening on ::)', () => {
  const cases: [string, string, string, number, string][] = [
    // whitelist file, connect to, description, expected status, reported ip
    ['::1\n', '::1', 'an IPv6 loopback peer with ::1 listed', 200, '::1'],
    ['::1\n', '127.0.0.1', 'an IPv4 peer (seen as ::ffff:127.0.0.1) when only ::1 is listed', 403, '127.0.0.1'],
    ['127.0.0.1\n', '127.0.0.1', 'an IPv4 peer (seen as ::ffff:127.0.0.1) with 127.0.0.1 listed', 200, '127.0.0.1'],
    ['127.0.0.0/8\n', '127.0.0.1', 'an IPv4-mapped peer inside a listed IPv4 CIDR', 200, '127.0.0.1'],
    ['::ffff:127.0.0.1\n', '127.0.0.1', 'an IPv4 peer with its mapped form listed', 200, '127.0.0.1'],
    ['127.0.0.1\n', '::1', 'an IPv6 peer when only IPv4 loopback is listed', 403, '::1'],
    ['::/0\n', '127.0.0.1', 'an IPv4-mapped peer against an IPv6 catch-all (mapped peers match as IPv4)', 403, '127.0.0.1'],
    ['0.0.0.0/0\n', '::1', 'an IPv6 peer against the IPv4 catch-all', 403, '::1'],
    ['::/0\n', '::1', 'an IPv6 peer against the IPv6 catch-all', 200, '::1'],
  ];
  it.each(cases)('whitelist %j, client via %s: %s → %i', async (whitelist, host, _description, status, ip) => {
    const t = await startTestApi({ HOST: '::' }, whitelist);
    try {
      const address = t.api.server.address() as { address: string };
      expect(address.address).toBe('::');
      for (const method of ['GET', 'POST']) {
        const reply = await chkcon(host, portOf(t), {}, method);
        expect(reply.status).toBe(status);
        expect(reply.body.ip).toBe(ip);
        expect(reply.body.success).toBe(status === 200 ? 1 : 0);
      }
      // A spoofed header changes nothing for these peers either.
      const spoofed = await chkcon(host, portOf(t), { 'x-forwarded-for': status === 200 ? '198.51.100.7' : ip === '::1' ? '127.0.0.1' : '::1' });
      expect(spoofed.status).toBe(status);
    } finally {
      await t.close();
    }
  });
});

/** Whether this machine can bind an IPv6 socket at all (a kernel without IPv6 falls back to 0.0.0.0). */
function hasIPv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port: 0, host: '::1' }, () => probe.close(() => resolve(true)));
  });
}

function connectionRefused(host: string, port: number): Promise<boolean> {
  return chkcon(host, port).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED',
  );
}

describe('listen address', () => {
  it('without HOST: dual-stack, IPv6 and IPv4 clients both answered, each matched against its own family of whitelist entries', async () => {
    const ipv6 = await hasIPv6();
    // Real secrets: with the development ADMIN_TOKEN an unset HOST means loopback only.
    const unset = { HOST: '', ADMIN_TOKEN: 'a-real-admin-token-0123456789' };
    const t = await startTestApi(unset, '::1\n');
    try {
      expect(t.config.http.host).toBeNull();
      expect((t.api.server.address() as { address: string }).address).toBe(ipv6 ? '::' : '0.0.0.0');
      if (ipv6) expect(await chkcon('::1', portOf(t))).toEqual({ status: 200, body: { success: 1, message: GRANTED, ip: '::1' } });
      // An IPv4 client arrives as ::ffff:127.0.0.1: it is not ::1, so it is denied (but answered).
      expect(await chkcon('127.0.0.1', portOf(t))).toEqual({ status: 403, body: { success: 0, message: DENIED, ip: '127.0.0.1' } });
    } finally {
      await t.close();
    }
    const v4 = await startTestApi(unset, '127.0.0.1\n');
    try {
      expect(await chkcon('127.0.0.1', portOf(v4))).toEqual({ status: 200, body: { success: 1, message: GRANTED, ip: '127.0.0.1' } });
      if (ipv6) expect(await chkcon('::1', portOf(v4))).toEqual({ status: 403, body: { success: 0, message: DENIED, ip: '::1' } });
    } finally {
      await v4.close();
    }
  });

  it('without HOST but with the development ADMIN_TOKEN: 127.0.0.1 only, nothing on another address', async () => {
    const t = await startTestApi({ HOST: '' }, '127.0.0.1\n::1\n');
    try {
      expect(t.config.http.loopbackForDevelopmentSecrets).toBe(true);
      expect((t.api.server.address() as { address: string }).address).toBe('127.0.0.1');
      expect((await chkcon('127.0.0.1', portOf(t))).status).toBe(200);
      if (await hasIPv6()) expect(await connectionRefused('::1', portOf(t))).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('an explicit HOST is respected: HOST=127.0.0.1 answers on IPv4 loopback only', async () => {
    const t = await startTestApi({ HOST: '127.0.0.1' }, '127.0.0.1\n::1\n');
    try {
      expect((t.api.server.address() as { address: string }).address).toBe('127.0.0.1');
      expect((await chkcon('127.0.0.1', portOf(t))).status).toBe(200);
      if (await hasIPv6()) expect(await connectionRefused('::1', portOf(t))).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('chkcon_whitelist.conf edited while the API runs (ictVoIP\'s Whitelist Manager: "Changes take effect immediately after saving")', () => {
  let t: TestApi;
  const forwarded = (ip: string) => chkcon('127.0.0.1', portOf(t), { 'x-forwarded-for': ip });
  /** Polls chkcon until it answers `status` (the reload is debounced): a state, not a fixed sleep. */
  async function until(ip: string, status: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if ((await forwarded(ip)).status === status) return;
      if (Date.now() > deadline) throw new Error(`chkcon never answered ${status} for ${ip}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  beforeAll(async () => {
    t = await startTestApi({ TRUST_PROXY: 'loopback' }, '127.0.0.1\n::1\n');
  });
  afterAll(() => t.close());

  it('an in-place save of the manager page (its template, CRLF from the textarea, a subnet) is in force without a restart; a renamed-in file too; a bad line keeps the last good list', async () => {
    expect((await forwarded('192.168.1.77')).status).toBe(403);
    // What the page saves: its commented template, then the operator's entries (browsers submit CRLF).
    const saved = [
      '# chkcon_whitelist.conf',
      '#',
      '# List trusted IP addresses or CIDR ranges, one per line.',
      '# Lines starting with # are comments and will be ignored.',
      '#',
      '# Example: Allow a single IP',
      '#192.168.1.100',
      '#',
      '# Example: Allow an entire subnet (CIDR notation)',
      '#192.168.1.0/24',
      '#',
      '# Add more IPs or ranges as needed below',
      '127.0.0.1',
      '::1',
      '192.168.1.0/24',
      '',
    ].join('\r\n');
    writeFileSync(t.whitelistFile, saved);
    await until('192.168.1.77', 200);
    expect((await forwarded('192.168.2.1')).status).toBe(403);
    // Configuration management replaces the file by rename.
    writeFileSync(`${t.whitelistFile}.tmp`, '127.0.0.1\n::1\n2001:db8:5::/48\n');
    renameSync(`${t.whitelistFile}.tmp`, t.whitelistFile);
    await until('192.168.1.77', 403);
    expect((await forwarded('2001:db8:5::9')).status).toBe(200);
    // A typo is logged naming file and line, and ignored: the list in force stays (not its good lines alone).
    writeFileSync(t.whitelistFile, '127.0.0.1\n::1\n192.168.1.0/24\n192.168.1.300\n');
    const deadline = Date.now() + 15_000;
    while (!t.logLines.some((line) => line.includes(`${t.whitelistFile}:4:`))) {
      if (Date.now() > deadline) throw new Error('the bad line was never reported');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await forwarded('2001:db8:5::9')).status).toBe(200);
    expect((await forwarded('192.168.1.77')).status).toBe(403);
  }, 30_000);
});
