/**
 * Strict address parsing shared by the whitelist file, peer matching and TRUST_PROXY.
 *
 * ipaddr.js alone accepts legacy IPv4 forms ("127.1", "0x7f.0.0.1", "010.0.0.1") that mean
 * different things to different programs; on an access-control path we accept only the
 * canonical four-part decimal form for IPv4 and anything ipaddr.js accepts for IPv6.
 */
import ipaddr from 'ipaddr.js';

export type IPv4 = ipaddr.IPv4;
export type IPv6 = ipaddr.IPv6;
export type IPAddress = IPv4 | IPv6;

/** A network: family, network address (host bits cleared) and prefix length. */
export interface CidrRange {
  readonly kind: 'ipv4' | 'ipv6';
  readonly address: IPAddress;
  readonly prefixLength: number;
  /** Canonical text, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly cidr: string;
}

const IPV4_MAPPED_PREFIX_BITS = 96;

export function maxPrefixLength(kind: 'ipv4' | 'ipv6'): number {
  return kind === 'ipv4' ? 32 : 128;
}

/** Splits `fe80::1%eth0` into address and zone; IPv4 text never has a zone. */
function splitZone(text: string): { address: string; zone: string | null } {
  const percent = text.indexOf('%');
  if (percent < 0) return { address: text, zone: null };
  return { address: text.slice(0, percent), zone: text.slice(percent + 1) };
}

const TRAILING_DOTTED_QUAD = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/;

/**
 * Rewrites a trailing dotted quad (`::ffff:1.2.3.4`) as two hex groups (`::ffff:102:304`).
 * Done here, not by ipaddr.js, because ipaddr.js reads `::1.2.3.4` (the RFC 4291
 * IPv4-compatible address ::102:304) as the IPv4-MAPPED `::ffff:1.2.3.4`, which would let an
 * IPv6 address pass as an IPv4 peer. The quad must be strict four-part decimal.
 */
function embeddedIPv4ToHex(text: string): string | null {
  const match = TRAILING_DOTTED_QUAD.exec(text);
  if (match === null) return text.includes('.') ? null : text;
  const quad = match[2]!;
  if (!ipaddr.IPv4.isValidFourPartDecimal(quad)) return null;
  const [a, b, c, d] = ipaddr.IPv4.parse(quad).octets as [number, number, number, number];
  return `${match[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/**
 * Parses one address strictly. Returns null for anything that is not an address.
 * The zone id, if any, is reported separately and not kept in the address.
 */
export function parseAddressStrict(text: string): { address: IPAddress; zone: string | null } | null {
  const { address, zone } = splitZone(text);
  if (zone !== null && (zone.length === 0 || !address.includes(':'))) return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return { address: ipaddr.IPv4.parse(address), zone };
  if (!address.includes(':')) return null;
  const hexOnly = embeddedIPv4ToHex(address);
  if (hexOnly === null || !ipaddr.IPv6.isValid(hexOnly)) return null;
  const v6 = ipaddr.IPv6.parse(hexOnly);
  return { address: new ipaddr.IPv6(v6.parts), zone };
}

/**
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the same host as a.b.c.d: a dual-stack
 * socket reports IPv4 clients that way. Unmapping makes v4 rules apply to them, while a
 * genuine IPv6 peer can never match a v4 rule.
 */
export function unmapIPv4(address: IPAddress): IPAddress {
  if (address.kind() === 'ipv6' && (address as IPv6).isIPv4MappedAddress()) {
    return (address as IPv6).toIPv4Address();
  }
  return address;
}

/** Peer address → comparable address, or null for garbage. Never throws. */
export function normalizePeer(peer: unknown): IPAddress | null {
  if (typeof peer !== 'string' || peer.length === 0 || peer.length > 100) return null;
  try {
    const parsed = parseAddressStrict(peer.trim());
    return parsed === null ? null : unmapIPv4(parsed.address);
  } catch {
    return null;
  }
}

/** Canonical display form of a peer (`::ffff:127.0.0.1` → `127.0.0.1`), or null for garbage. */
export function canonicalPeer(peer: unknown): string | null {
  const address = normalizePeer(peer);
  return address === null ? null : address.toString();
}

function networkAddress(address: IPAddress, prefixLength: number): IPAddress {
  const bytes = address.toByteArray();
  for (let bit = prefixLength; bit < bytes.length * 8; bit += 1) {
    bytes[bit >> 3]! &= ~(0x80 >> (bit & 7)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}

export function makeRange(address: IPAddress, prefixLength: number): CidrRange {
  const network = networkAddress(address, prefixLength);
  const kind = network.kind();
  const text = kind === 'ipv6' ? (network as IPv6).toRFC5952String() : network.toString();
  return { kind, address: network, prefixLength, cidr: `${text}/${prefixLength}` };
}

/** Mapped v6 ranges that lie wholly inside ::ffff:0:0/96 become the equivalent v4 range. */
export function unmapRange(address: IPAddress, prefixLength: number): { address: IPAddress; prefixLength: number } {
  if (address.kind() !== 'ipv6' || prefixLength < IPV4_MAPPED_PREFIX_BITS) return { address, prefixLength };
  if (!(address as IPv6).isIPv4MappedAddress()) return { address, prefixLength };
  return { address: (address as IPv6).toIPv4Address(), prefixLength: prefixLength - IPV4_MAPPED_PREFIX_BITS };
}

export function rangeContains(range: CidrRange, address: IPAddress): boolean {
  if (address.kind() !== range.kind) return false;
  return address.match(range.address, range.prefixLength);
}
