import { isIPv4, isIPv6 } from 'node:net';

/**
 * ictVoIP's service-field formats (clientadmin/clientadmin.rst), parsed in one place: the Domain
 * field `"<tenant domain> | <main DID>"` (Vodia's form lists more DIDs: `"t | d1 | d2"`) and the
 * extension list `"2112 | 2113 | 2120"` (not necessarily consecutive). `|` separates, spaces around
 * it do not matter. Each problem names the field and the part at fault.
 */

export class IctvoipFormatError extends Error {
  readonly code = 'ICTVOIP_FORMAT_INVALID';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
    this.name = 'IctvoipFormatError';
  }
}

export interface IctvoipDomainField {
  domain: string;
  /** The DIDs after the domain, in the order given (the first is the tenant's main DID). */
  dids: string[];
}

const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const DID = /^\+?[0-9]{3,20}$/;
const EXTENSION = /^[0-9]{1,15}$/;

const parts = (value: string) => value.split('|').map((part) => part.trim());

/** True when the value uses ictVoIP's `a | b` form (a plain domain or number does not). */
export const isIctvoipList = (value: string) => value.includes('|');

/** `"mcon.example.ca | 5192229000"` → domain + DIDs; a plain domain gives no DIDs. */
export function parseIctvoipDomainField(value: string, field = 'service.domain'): IctvoipDomainField {
  const [domain = '', ...rest] = parts(value);
  if (!DOMAIN.test(domain))
    throw new IctvoipFormatError(field, `must start with a tenant domain (e.g. "mcon.example.ca | 5192229000"); got ${JSON.stringify(domain.slice(0, 80))}`);
  const dids = rest.map((did) => did.replace(/[\s().-]/g, ''));
  dids.forEach((did, index) => {
    if (!DID.test(did)) throw new IctvoipFormatError(field, `part ${index + 2} must be a DID of 3 to 20 digits (optionally +); got ${JSON.stringify(rest[index]!.slice(0, 40))}`);
  });
  return { domain: domain.toLowerCase(), dids: [...new Set(dids)] };
}

/** `"2112 | 2113 | 2120"` → ['2112', '2113', '2120']; a single number is a list of one. */
export function parseIctvoipExtensionList(value: string, field = 'extensions'): string[] {
  const numbers = parts(value);
  const seen = new Set<string>();
  numbers.forEach((number, index) => {
    if (!EXTENSION.test(number)) throw new IctvoipFormatError(field, `part ${index + 1} must be an extension number (digits only); got ${JSON.stringify(number.slice(0, 40))}`);
    if (seen.has(number)) throw new IctvoipFormatError(field, `lists extension ${number} twice`);
    seen.add(number);
  });
  return numbers;
}

/** The ictVoIP form of a domain and its DIDs, as its Domain field holds them. */
export function formatIctvoipDomainField(domain: string, dids: readonly string[] = []): string {
  return [domain, ...dids].join(' | ');
}

/**
 * The plan's IP-authenticated trunk addresses (`plan.trunkCidrs`): one IPv4/IPv6 address or CIDR each,
 * as a list or as one string separated by `|`, `,` or spaces (the form a WHMCS module setting holds).
 * Normalised the way FusionPBX's access_control_edit.php stores a node: an IPv4 address without a
 * prefix gets `/32`; IPv6 is kept as written.
 */
export const MAX_TRUNK_CIDRS = 50;

export interface TrunkCidrProblem {
  /** `plan.trunkCidrs[1]` */
  path: string;
  message: string;
}

function entriesOf(value: unknown): unknown[] | null {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return value.split(/[|,\s]+/).filter((part) => part !== '');
  return null;
}

/** One entry as FusionPBX stores it, or null when it is not an address or CIDR. */
export function normaliseTrunkCidr(entry: unknown): string | null {
  if (typeof entry !== 'string') return null;
  const text = entry.trim();
  const [address = '', prefix, extra] = text.split('/');
  if (extra !== undefined) return null;
  const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (max === 0) return null;
  if (prefix === undefined) return max === 32 ? `${address}/32` : address;
  if (!/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > max) return null;
  return `${address}/${Number(prefix)}`;
}

export function trunkCidrProblems(value: unknown, field = 'plan.trunkCidrs'): TrunkCidrProblem[] {
  const entries = entriesOf(value);
  if (entries === null) return [{ path: field, message: 'must be a list of IP addresses or CIDRs' }];
  if (entries.length > MAX_TRUNK_CIDRS) return [{ path: field, message: `must hold at most ${MAX_TRUNK_CIDRS} entries` }];
  return entries.flatMap((entry, index) =>
    normaliseTrunkCidr(entry) === null
      ? [
          {
            path: `${field}[${index}]`,
            message: `'${typeof entry === 'string' ? entry : JSON.stringify(entry)}' is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.10 or 198.51.100.0/24)`,
          },
        ]
      : [],
  );
}

/** The normalised, de-duplicated list; throws nothing (call trunkCidrProblems first). */
export function normaliseTrunkCidrs(value: unknown): string[] {
  const entries = entriesOf(value) ?? [];
  return [...new Set(entries.map(normaliseTrunkCidr).filter((cidr): cidr is string => cidr !== null))];
}
