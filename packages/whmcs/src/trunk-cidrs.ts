import { isIPv4, isIPv6 } from 'node:net';

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
