import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { compileWhitelist, parseTrustProxy, peerAddress, TrustProxyError, type PeerRequest, type TrustProxy } from '@ictvoip/whitelist';

describe('parseTrustProxy', () => {
  test.each([undefined, '', '  ', 'off', 'OFF', 'false', 'no', 'none', '0'])('%p → off', (value) => {
    expect(parseTrustProxy(value)).toEqual({ mode: 'off' });
  });

  test.each([
    ['1', 1],
    [' 2 ', 2],
    ['32', 32],
  ])('%p → hop count %d', (value, hops) => {
    expect(parseTrustProxy(value)).toEqual({ mode: 'hops', hops });
  });

  test('CIDR list with loopback shorthand', () => {
    const trust = parseTrustProxy('loopback, 10.0.0.0/8 ,2001:db8::/32,192.0.2.1');
    expect(trust.mode).toBe('ranges');
    const cidrs = trust.mode === 'ranges' ? trust.ranges.map((range) => range.cidr) : [];
    expect(cidrs).toEqual(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '2001:db8::/32', '192.0.2.1/32']);
  });

  test('linklocal and uniquelocal shorthands as in express', () => {
    const trust = parseTrustProxy('LinkLocal,uniquelocal');
    expect(trust.mode === 'ranges' && trust.ranges.map((range) => range.cidr)).toEqual([
      '169.254.0.0/16',
      'fe80::/10',
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      'fc00::/7',
    ]);
  });

  test.each([
    ['true', 'trust every hop'],
    ['*', 'trust every hop'],
    ['33', 'implausible'],
    ['-1', '"-1"'],
    ['10.0.0.0/33', 'out of range'],
    ['proxy.example.com', '"proxy.example.com"'],
    ['10.0.0.1,,10.0.0.2', 'empty item'],
    ['10.0.0.1,', 'empty item'],
  ])('%p is refused with a typed error naming TRUST_PROXY', (value, fragment) => {
    let caught: unknown;
    try {
      parseTrustProxy(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TrustProxyError);
    expect(caught).toMatchObject({ code: 'TRUST_PROXY_INVALID', variable: 'TRUST_PROXY' });
    expect((caught as Error).message).toMatch(/^TRUST_PROXY: /);
    expect((caught as Error).message).toContain(fragment);
  });
});

describe('peerAddress over real HTTP on loopback', () => {
  const CLIENT = '203.0.113.5';
  const whitelist = compileWhitelist(`${CLIENT}\n`, 'proxy.conf').whitelist;
  let trust: TrustProxy = { mode: 'off' };
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      const peer = peerAddress(request, trust);
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ peer, allowed: whitelist.isAllowed(peer) }));
    });
    server.listen(0, '::'); // dual stack: IPv4 clients arrive as ::ffff:a.b.c.d
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  async function ask(host: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ peer: string | null; allowed: boolean }> {
    const request = http.request({ host, port, path: '/', headers, agent: false });
    request.end();
    const [response] = (await once(request, 'response')) as [http.IncomingMessage];
    let body = '';
    for await (const chunk of response) body += chunk;
    return JSON.parse(body) as { peer: string | null; allowed: boolean };
  }

  test('by default X-Forwarded-For is ignored: the socket address decides', async () => {
    trust = parseTrustProxy(undefined);
    expect(await ask('127.0.0.1', { 'x-forwarded-for': CLIENT })).toEqual({ peer: '::ffff:127.0.0.1', allowed: false });
    expect(await ask('::1', { 'x-forwarded-for': CLIENT })).toEqual({ peer: '::1', allowed: false });
  });

  test('trusted CIDR list: a trusted socket peer hands over to X-Forwarded-For', async () => {
    trust = parseTrustProxy('loopback');
    expect(await ask('127.0.0.1', { 'x-forwarded-for': CLIENT })).toEqual({ peer: CLIENT, allowed: true });
    expect(await ask('::1', { 'x-forwarded-for': CLIENT })).toEqual({ peer: CLIENT, allowed: true });
    // trusted hops are skipped, the first untrusted one is the client
    expect(await ask('127.0.0.1', { 'x-forwarded-for': `${CLIENT}, 127.0.0.2` })).toEqual({ peer: CLIENT, allowed: true });
  });

  test('trusted CIDR list: a client cannot spoof by prepending a whitelisted address', async () => {
    trust = parseTrustProxy('loopback');
    expect(await ask('127.0.0.1', { 'x-forwarded-for': `${CLIENT}, 198.51.100.9` })).toEqual({ peer: '198.51.100.9', allowed: false });
  });

  test('trusted CIDR list that does not contain the socket peer: header ignored', async () => {
    trust = parseTrustProxy('10.0.0.0/8');
    expect(await ask('127.0.0.1', { 'x-forwarded-for': CLIENT })).toEqual({ peer: '::ffff:127.0.0.1', allowed: false });
  });

  test('no X-Forwarded-For while trusting: the socket address', async () => {
    trust = parseTrustProxy('loopback');
    expect(await ask('127.0.0.1')).toEqual({ peer: '::ffff:127.0.0.1', allowed: false });
  });

  test('hop count: N nearest hops are proxies', async () => {
    const header = { 'x-forwarded-for': `198.51.100.1, ${CLIENT}` };
    trust = parseTrustProxy('1');
    expect(await ask('127.0.0.1', header)).toEqual({ peer: CLIENT, allowed: true });
    trust = parseTrustProxy('2');
    expect(await ask('127.0.0.1', header)).toEqual({ peer: '198.51.100.1', allowed: false });
    trust = parseTrustProxy('5'); // more hops than the chain: the farthest address
    expect(await ask('127.0.0.1', header)).toEqual({ peer: '198.51.100.1', allowed: false });
  });

  test('repeated X-Forwarded-For headers are one list', async () => {
    trust = parseTrustProxy('1');
    expect(await ask('127.0.0.1', { 'x-forwarded-for': ['198.51.100.1', CLIENT] })).toEqual({ peer: CLIENT, allowed: true });
  });

  test('garbage in X-Forwarded-For is returned as is and denied', async () => {
    trust = parseTrustProxy('1');
    expect(await ask('127.0.0.1', { 'x-forwarded-for': 'not-an-ip' })).toEqual({ peer: 'not-an-ip', allowed: false });
    trust = parseTrustProxy('loopback');
    expect(await ask('127.0.0.1', { 'x-forwarded-for': `${CLIENT}, ,` })).toEqual({ peer: '', allowed: false });
  });
});

describe('peerAddress without a live socket', () => {
  test('a closed socket without an address gives null, which the whitelist denies', () => {
    const request: PeerRequest = { socket: { remoteAddress: undefined }, headers: { 'x-forwarded-for': '203.0.113.5' } };
    expect(peerAddress(request, { mode: 'hops', hops: 1 })).toBeNull();
    expect(compileWhitelist('0.0.0.0/0', 'x.conf').whitelist.isAllowed(peerAddress(request))).toBe(false);
  });
});

/** express's own implementation, used as the oracle for the X-Forwarded-For walk. */
type ProxyAddr = (request: PeerRequest, trust: string[] | ((address: string, index: number) => boolean)) => string;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const proxyaddr = require('proxy-addr') as ProxyAddr;

describe('property: same answer as express/proxy-addr', () => {
  const pool = ['127.0.0.1', '10.1.2.3', '10.200.0.1', '192.0.2.1', '203.0.113.5', '::1', '2001:db8::1', 'fe80::1', '::ffff:10.1.2.3', '::ffff:127.0.0.1'];
  const rangesPool = ['loopback', '10.0.0.0/8', '192.0.2.0/24', '2001:db8::/32', '127.0.0.1', 'uniquelocal'];
  const address = fc.constantFrom(...pool);
  const trustText = fc.oneof(
    fc.integer({ min: 1, max: 6 }).map(String),
    fc.uniqueArray(fc.constantFrom(...rangesPool), { minLength: 1, maxLength: 3 }).map((items) => items.join(',')),
  );

  test('for random chains and trust settings', () => {
    fc.assert(
      fc.property(address, fc.array(address, { maxLength: 5 }), trustText, (socketAddress, hops, text) => {
        const request: PeerRequest = {
          socket: { remoteAddress: socketAddress },
          headers: hops.length > 0 ? { 'x-forwarded-for': hops.join(', ') } : {},
        };
        const oracleTrust = /^\d+$/.test(text) ? (_address: string, index: number) => index < Number.parseInt(text, 10) : text.split(',');
        expect(peerAddress(request, parseTrustProxy(text))).toBe(proxyaddr(request, oracleTrust));
      }),
      { numRuns: 1000 },
    );
  });
});
