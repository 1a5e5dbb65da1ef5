/** An immutable, parsed allow-list. Swapping lists is a single reference assignment. */
import { type CidrRange, normalizePeer, rangeContains } from './address';
import { WhitelistError } from './errors';
import { parseWhitelist, type WhitelistEntry } from './parse';

export class Whitelist {
  private readonly v4: readonly CidrRange[];
  private readonly v6: readonly CidrRange[];

  constructor(readonly entries: readonly WhitelistEntry[]) {
    this.v4 = entries.filter((entry) => entry.kind === 'ipv4');
    this.v6 = entries.filter((entry) => entry.kind === 'ipv6');
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * True when the peer lies inside an entry. Accepts IPv4, IPv6 (zone id ignored) and
   * IPv4-mapped IPv6. Anything else — including non-strings — is false; never throws.
   * An empty list denies everyone.
   */
  isAllowed(peer: unknown): boolean {
    const address = normalizePeer(peer);
    if (address === null) return false;
    const ranges = address.kind() === 'ipv4' ? this.v4 : this.v6;
    return ranges.some((range) => rangeContains(range, address));
  }
}

/**
 * Parses text into a Whitelist, or throws WhitelistError('WHITELIST_INVALID') listing every
 * bad line (`file:line: reason`) — nothing is half-applied.
 */
export function compileWhitelist(text: string, fileName: string): { whitelist: Whitelist; warnings: ReturnType<typeof parseWhitelist>['warnings'] } {
  const { entries, errors, warnings } = parseWhitelist(text, fileName);
  if (errors.length > 0) {
    const summary = errors.map((error) => error.message).join('; ');
    throw new WhitelistError('WHITELIST_INVALID', `invalid whitelist ${fileName}: ${summary}`, fileName, errors);
  }
  return { whitelist: new Whitelist(entries), warnings };
}
