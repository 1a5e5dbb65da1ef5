/**
 * Parser for chkcon_whitelist.conf: one IPv4/IPv6 address or CIDR per line.
 *
 * Format decisions (documented in README):
 * - `#` starts a comment, on its own line or after an entry; blank lines are ignored;
 *   surrounding whitespace, CRLF/CR line endings and a UTF-8 BOM are tolerated.
 * - A bare address is a /32 (IPv4) or /128 (IPv6) entry.
 * - A CIDR with host bits set (`10.1.2.3/8`) is ACCEPTED and normalised to its network
 *   (`10.0.0.0/8`) with a warning: the operator's intent is unambiguous, and refusing to start
 *   over it would be harsher than useful. The warning names file and line.
 * - IPv4-mapped IPv6 entries (`::ffff:10.0.0.1`, `::ffff:10.0.0.0/104`) are stored as the
 *   equivalent IPv4 entry, because mapped peers are matched as IPv4.
 * - Rejected (error naming file and line): anything that is not an address, legacy IPv4 forms
 *   (`127.1`, `010.0.0.1`, hex), prefix lengths out of range or not plain decimal, zone ids
 *   (`fe80::1%eth0`: an interface-local scope has no meaning in a shared allow-list), and
 *   more than one token on a line.
 */
import type { WhitelistLineError } from './errors';
import { type CidrRange, makeRange, maxPrefixLength, parseAddressStrict, unmapRange } from './address';

export interface WhitelistEntry extends CidrRange {
  /** 1-based line the entry came from. */
  readonly line: number;
  /** The entry as written (comment and whitespace removed). */
  readonly source: string;
}

export interface ParseResult {
  readonly entries: readonly WhitelistEntry[];
  readonly errors: readonly WhitelistLineError[];
  /** Accepted but suspicious lines (host bits set, duplicates). Same shape as errors. */
  readonly warnings: readonly WhitelistLineError[];
}

const MAX_TEXT_IN_MESSAGE = 120;
const PREFIX_DIGITS = /^\d{1,3}$/;

type TokenResult = { ok: true; range: CidrRange; normalised: boolean } | { ok: false; reason: string };

function stripComment(line: string): string {
  const hash = line.indexOf('#');
  return (hash < 0 ? line : line.slice(0, hash)).trim();
}

function shorten(text: string): string {
  return text.length <= MAX_TEXT_IN_MESSAGE ? text : `${text.slice(0, MAX_TEXT_IN_MESSAGE)}…`;
}

function lineProblem(file: string, line: number, text: string, reason: string): WhitelistLineError {
  const shown = shorten(text);
  return { file, line, text: shown, message: `${file}:${line}: ${reason}: "${shown}"` };
}

function parsePrefix(text: string, kind: 'ipv4' | 'ipv6'): number | string {
  if (!PREFIX_DIGITS.test(text)) return `prefix length "${shorten(text)}" is not a decimal number`;
  const prefix = Number.parseInt(text, 10);
  const max = maxPrefixLength(kind);
  if (prefix > max) return `prefix length /${prefix} is out of range for ${kind === 'ipv4' ? 'IPv4' : 'IPv6'} (0-${max})`;
  return prefix;
}

/** Parses one token: `address` or `address/prefix`. */
export function parseCidrToken(token: string): TokenResult {
  const slash = token.indexOf('/');
  const addressText = slash < 0 ? token : token.slice(0, slash);
  const parsed = parseAddressStrict(addressText);
  if (parsed === null) return { ok: false, reason: `"${shorten(addressText)}" is not a valid IPv4 or IPv6 address` };
  if (parsed.zone !== null) return { ok: false, reason: 'zone ids (%interface) are not allowed in whitelist entries' };
  const kind = parsed.address.kind();
  const prefix = slash < 0 ? maxPrefixLength(kind) : parsePrefix(token.slice(slash + 1), kind);
  if (typeof prefix === 'string') return { ok: false, reason: prefix };
  const unmapped = unmapRange(parsed.address, prefix);
  const range = makeRange(unmapped.address, unmapped.prefixLength);
  const normalised = range.address.toString() !== unmapped.address.toString();
  return { ok: true, range, normalised };
}

/**
 * Parses the whole file. Never throws; every bad line is listed in `errors` with its line number,
 * so a caller can report all problems at once.
 */
export function parseWhitelist(text: string, fileName: string): ParseResult {
  const entries: WhitelistEntry[] = [];
  const errors: WhitelistLineError[] = [];
  const warnings: WhitelistLineError[] = [];
  const seen = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);

  lines.forEach((raw, index) => {
    const lineNumber = index + 1;
    const content = stripComment(raw);
    if (content.length === 0) return;
    if (/\s/.test(content)) {
      errors.push(lineProblem(fileName, lineNumber, content, 'expected one address or CIDR per line'));
      return;
    }
    const result = parseCidrToken(content);
    if (!result.ok) {
      errors.push(lineProblem(fileName, lineNumber, content, result.reason));
      return;
    }
    const { range } = result;
    if (result.normalised) {
      warnings.push(lineProblem(fileName, lineNumber, content, `host bits set; treated as ${range.cidr}`));
    }
    const firstLine = seen.get(range.cidr);
    if (firstLine !== undefined) {
      warnings.push(lineProblem(fileName, lineNumber, content, `duplicate of line ${firstLine} (${range.cidr})`));
      return;
    }
    seen.set(range.cidr, lineNumber);
    entries.push({ ...range, line: lineNumber, source: content });
  });

  return { entries, errors, warnings };
}
