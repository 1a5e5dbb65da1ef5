import { isIP } from 'node:net';
import fc from 'fast-check';
import { compileWhitelist, Whitelist } from '@ictvoip/whitelist';
import { addressText, cidrEdges } from './helpers';

function listOf(...lines: string[]): Whitelist {
  return compileWhitelist(lines.join('\n'), 'match.conf').whitelist;
}

describe('Whitelist.isAllowed', () => {
  test.each([
    // [entry, peer, allowed]
    ['192.0.2.7', '192.0.2.7', true],
    ['192.0.2.7', '192.0.2.8', false],
    ['2001:db8::7', '2001:db8::7', true],
    ['2001:db8::7', '2001:db8:0:0:0:0:0:7', true],
    ['2001:db8::7', '2001:db8::8', false],
    ['127.0.0.0/8', '::ffff:127.0.0.1', true],
    ['127.0.0.1', '::ffff:127.0.0.1', true],
    ['127.0.0.1', '::FFFF:127.0.0.1', true],
    ['127.0.0.1', '::ffff:7f00:1', true],
    ['127.0.0.1', '::ffff:127.0.0.2', false],
    ['::ffff:127.0.0.1', '127.0.0.1', true],
    // a v4 entry never matches a real IPv6 peer, even one embedding the same bits
    ['127.0.0.1', '::127.0.0.1', false],
    ['127.0.0.1', '::7f00:1', false],
    ['0.0.0.0/0', '2001:db8::1', false],
    ['0.0.0.0/0', '::1', false],
    // and a v6 entry never matches an IPv4 peer
    ['::/0', '192.0.2.1', false],
    ['::/0', '::ffff:192.0.2.1', false],
    ['::/0', '2001:db8::1', true],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '::ffff:203.0.113.9', true],
    // zone ids on peers are ignored for matching
    ['fe80::/10', 'fe80::1%eth0', true],
    ['fe80::1', 'fe80::1%2', true],
    ['fe80::1', 'fe80::2%eth0', false],
  ])('entry %s, peer %s → %s', (entry, peer, allowed) => {
    expect(listOf(entry).isAllowed(peer)).toBe(allowed);
  });

  test.each([
    '10.0.0.0/8',
    '10.20.30.0/24',
    '192.0.2.128/25',
    '0.0.0.0/0',
    '192.0.2.5/32',
    '255.255.255.255/32',
    '2001:db8::/32',
    '2001:db8::/127',
    '::/0',
    '2001:db8::1/128',
    '::/128',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128',
  ])('CIDR edges of %s: first and last inside, neighbours outside', (cidr) => {
    const list = listOf(cidr);
    const { first, last, before, after } = cidrEdges(cidr);
    expect(list.isAllowed(first)).toBe(true);
    expect(list.isAllowed(last)).toBe(true);
    if (before !== null) expect(list.isAllowed(before)).toBe(false);
    if (after !== null) expect(list.isAllowed(after)).toBe(false);
    // /0 covers its whole family: there is no neighbour outside it
    expect(before === null && after === null).toBe(cidr.endsWith('/0'));
  });

  test.each(['', ' ', 'garbage', '300.0.0.1', '127.1', '127.0.0.1/8', '::1/128', '[::1]', '127.0.0.1:80', '%eth0', '::1%', '1.2.3.4%eth0', 'a'.repeat(10_000)])(
    'garbage peer %p is denied',
    (peer) => {
      expect(listOf('0.0.0.0/0', '::/0').isAllowed(peer)).toBe(false);
    },
  );

  test.each([undefined, null, 42, {}, ['127.0.0.1'], Symbol('x')])('non-string peer %p is denied without throwing', (peer) => {
    expect(listOf('0.0.0.0/0', '::/0').isAllowed(peer)).toBe(false);
  });

  test('an empty list denies everyone', () => {
    const empty = listOf('# nobody', '');
    expect(empty.size).toBe(0);
    for (const peer of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '0.0.0.0']) expect(empty.isAllowed(peer)).toBe(false);
  });

  test('several entries of both families', () => {
    const list = listOf('10.0.0.0/8', '2001:db8::/32', '192.0.2.1');
    expect(['10.9.9.9', '2001:db8:ffff::1', '192.0.2.1', '::ffff:10.1.1.1'].map((peer) => list.isAllowed(peer))).toEqual([true, true, true, true]);
    expect(['11.0.0.0', '2001:db9::', '192.0.2.2'].map((peer) => list.isAllowed(peer))).toEqual([false, false, false]);
  });
});

/** Random network of either family, as bytes plus prefix length. */
const network = fc.oneof(
  fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 })),
  fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })),
);

function withPrefixFrom(source: number[], noise: number[], prefix: number): number[] {
  return source.map((byte, index) => {
    const bits = Math.max(0, Math.min(8, prefix - index * 8));
    const mask = (0xff << (8 - bits)) & 0xff;
    return (byte & mask) | (noise[index]! & ~mask & 0xff);
  });
}

describe('property: CIDR membership', () => {
  test('an address sharing the prefix bits matches; one differing inside the prefix does not', () => {
    fc.assert(
      fc.property(network, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), fc.nat(), ([bytes, prefix], noise, flipSeed) => {
        const list = listOf(`${addressText(bytes)}/${prefix}`);
        const inside = withPrefixFrom(bytes, noise, prefix);
        expect(list.isAllowed(addressText(inside))).toBe(true);
        if (prefix === 0) return;
        const bit = flipSeed % prefix;
        const outside = [...inside];
        outside[bit >> 3]! ^= 0x80 >> (bit & 7);
        expect(list.isAllowed(addressText(outside))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('property: address syntax agrees with node:net', () => {
  const hexGroup = fc.oneof(
    fc.constant('0'),
    fc.constant('ffff'),
    fc.integer({ min: 0, max: 0xfffff }).map((n) => n.toString(16)),
  );
  const quad = fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 3, maxLength: 5 }).map((parts) => parts.join('.'));
  const candidate = fc.tuple(fc.array(hexGroup, { minLength: 0, maxLength: 9 }), fc.integer({ min: -1, max: 9 }), fc.option(quad)).map(([groups, gap, tail]) => {
    const withGap = gap >= 0 && gap <= groups.length ? [...groups.slice(0, gap), '', ...groups.slice(gap)] : groups;
    const text = withGap
      .join(':')
      .replace(/^:(?!:)/, '::')
      .replace(/(?<!:):$/, '::');
    return tail === null ? text : `${text}:${tail}`;
  });

  test('a peer text is accepted exactly when net.isIP accepts it', () => {
    const list = listOf('0.0.0.0/0', '::/0');
    fc.assert(
      fc.property(fc.oneof(candidate, quad), (text) => {
        expect(list.isAllowed(text)).toBe(isIP(text) !== 0);
      }),
      { numRuns: 2000 },
    );
  });

  test('::a.b.c.d is the IPv4-compatible IPv6 address, not the mapped IPv4 one', () => {
    const { whitelist } = compileWhitelist('::192.0.2.1', 'compat.conf');
    expect(whitelist.entries.map((entry) => [entry.kind, entry.cidr])).toEqual([['ipv6', '::c000:201/128']]);
    expect(whitelist.isAllowed('::c000:201')).toBe(true);
    expect(whitelist.isAllowed('192.0.2.1')).toBe(false);
    expect(whitelist.isAllowed('::ffff:192.0.2.1')).toBe(false);
  });
});
