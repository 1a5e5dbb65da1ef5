/**
 * Which address is the client? By default the TCP peer, full stop: X-Forwarded-For is
 * client-controlled and would let anyone claim a whitelisted address.
 *
 * When TRUST_PROXY is set, X-Forwarded-For is followed exactly like express's `trust proxy`
 * (proxy-addr): walk from the socket address through the header from right to left, and stop
 * at the first hop that is not trusted. Implemented here rather than importing proxy-addr
 * because that package is only a transitive dependency (pinned to ipaddr.js 1.x) and the
 * IPv4-mapped/zone handling must match the whitelist's own parser.
 */
import { type CidrRange, normalizePeer, rangeContains } from './address';
import { TrustProxyError } from './errors';
import { parseCidrToken } from './parse';

// The subpath `@ictvoip/whitelist/trust-proxy` (config's check of TRUST_PROXY) gets its error from here.
export { TrustProxyError };

export type TrustProxy =
  | { readonly mode: 'off' }
  /** Trust the N nearest hops (the socket peer is hop 0). */
  | { readonly mode: 'hops'; readonly hops: number }
  /** Trust hops whose address is inside one of the ranges. */
  | { readonly mode: 'ranges'; readonly ranges: readonly CidrRange[] };

/** Same shorthands as express/proxy-addr. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const OFF_WORDS = new Set(['', 'off', 'false', 'no', 'none', '0']);
const MAX_HOPS = 32;

function fail(message: string): never {
  throw new TrustProxyError(`TRUST_PROXY: ${message}`);
}

function parseHops(text: string): TrustProxy {
  const hops = Number.parseInt(text, 10);
  if (hops > MAX_HOPS) fail(`hop count ${hops} is implausible (at most ${MAX_HOPS})`);
  return { mode: 'hops', hops };
}

function parseRangeItem(item: string): CidrRange[] {
  const named = NAMED_RANGES[item.toLowerCase()];
  if (named) return named.map((cidr) => parseRangeItem(cidr)[0]!);
  const result = parseCidrToken(item);
  if (!result.ok) fail(`"${item}" is not an IP address, CIDR or one of ${Object.keys(NAMED_RANGES).join(', ')}: ${result.reason}`);
  return [result.range];
}

/**
 * Parses the TRUST_PROXY environment value:
 * unset / "" / off / false / no / none / 0 → off; a positive integer → hop count;
 * otherwise a comma-separated list of IPs, CIDRs and the names loopback, linklocal, uniquelocal.
 * "true" (trust every hop, so the client picks its own address) is refused on purpose.
 * Throws TrustProxyError naming the variable and the bad item.
 */
export function parseTrustProxy(value: string | undefined): TrustProxy {
  const text = (value ?? '').trim();
  if (OFF_WORDS.has(text.toLowerCase())) return { mode: 'off' };
  if (/^\d+$/.test(text)) return parseHops(text);
  if (text.toLowerCase() === 'true' || text === '*') {
    fail('"true" would trust every hop and let any client choose its address; give a hop count or a CIDR list');
  }
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item.length === 0)) fail(`empty item in list "${text}"`);
  return { mode: 'ranges', ranges: items.flatMap(parseRangeItem) };
}

/** The parts of an http.IncomingMessage (express Request) this module reads. */
export interface PeerRequest {
  readonly socket?: { readonly remoteAddress?: string | undefined } | null;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]*)\](?::\d{1,5})?$/;

/**
 * Some proxies (Azure Application Gateway, IIS ARR, nginx with `$remote_addr:$remote_port`) write
 * `1.2.3.4:5678` or `[2001:db8::1]:5678`; proxy-addr would keep the port and the address would never
 * match. Only those two shapes lose a port: a bare IPv6 (`2001:db8::10:5678`) is left as written,
 * since its last group is part of the address.
 */
function withoutPort(hop: string): string {
  const v4 = IPV4_WITH_PORT.exec(hop);
  if (v4 !== null) return v4[1]!;
  const v6 = BRACKETED_IPV6.exec(hop);
  return v6 === null ? hop : v6[1]!;
}

/**
 * X-Forwarded-For hops, nearest first, each without a port. Node joins repeated headers with ", "
 * already. The RFC 7239 `Forwarded` header is not read (as express/proxy-addr): a proxy that sends
 * only `Forwarded` is itself the client.
 */
function forwardedHops(request: PeerRequest): string[] {
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return [];
  const joined = typeof header === 'string' ? header : header.join(',');
  if (joined.trim().length === 0) return [];
  return joined
    .split(',')
    .map((hop) => withoutPort(hop.trim()))
    .reverse();
}

function isTrustedHop(trust: TrustProxy, hop: string, index: number): boolean {
  if (trust.mode === 'off') return false;
  if (trust.mode === 'hops') return index < trust.hops;
  const address = normalizePeer(hop);
  if (address === null) return false;
  return trust.ranges.some((range) => rangeContains(range, address));
}

/**
 * The client address for access decisions: the socket's remoteAddress unless TRUST_PROXY says
 * the nearest hops are proxies, in which case the first untrusted address walking outward
 * through X-Forwarded-For (or the farthest one, if all are trusted). Returns the address as
 * seen (possibly `::ffff:a.b.c.d` or unparseable text, which the whitelist then denies), or
 * null when the socket has no address (already closed).
 */
export function peerAddress(request: PeerRequest, trust: TrustProxy = { mode: 'off' }): string | null {
  const socketAddress = request.socket?.remoteAddress;
  if (typeof socketAddress !== 'string' || socketAddress.length === 0) return null;
  if (trust.mode === 'off') return socketAddress;
  const chain = [socketAddress, ...forwardedHops(request)];
  for (let index = 0; index < chain.length - 1; index += 1) {
    if (!isTrustedHop(trust, chain[index]!, index)) return chain[index]!;
  }
  return chain[chain.length - 1]!;
}
