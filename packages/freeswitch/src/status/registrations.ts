import { XMLParser } from 'fast-xml-parser';

/**
 * Parser for `sofia xmlstatus profile '<p>' reg` (mod_sofia.c show_reg_callback_xml). Old builds
 * lack expsecs / ping-time, so every field is optional. Entities (&quot; &lt; &gt; &amp;) in the
 * contact are decoded by the XML parser; FusionPBX's PHP strips them instead, which loses the URI.
 */

export interface Registration {
  profile: string;
  /** `user@host` as FreeSWITCH reports it. */
  user: string;
  /** The user part of `user` (extension or number alias). */
  extension: string;
  /** The host part of `user`. */
  domain: string;
  callId: string | null;
  /** Decoded contact, e.g. `"" <sip:101@192.0.2.4:5060;transport=udp;fs_nat=yes>`. */
  contact: string | null;
  userAgent: string | null;
  /** e.g. `Registered(UDP-NAT)(unknown) exp(2025-05-13 18:29:38) expsecs(3598)`. */
  rawStatus: string | null;
  /** `Registered`, `Unregistered`, …: the first word of the status. */
  status: string | null;
  /** Transport from the status, e.g. `UDP-NAT`, `TLS`. */
  transport: string | null;
  /** `exp(...)` as FreeSWITCH printed it (switch local time, no zone). */
  expires: string | null;
  expiresInSeconds: number | null;
  pingStatus: string | null;
  pingTimeMs: string | null;
  host: string | null;
  networkIp: string | null;
  networkPort: number | null;
  sipAuthUser: string | null;
  sipAuthRealm: string | null;
  mwiAccount: string | null;
}

export class RegistrationStatusError extends Error {
  readonly code = 'REGISTRATION_STATUS_INVALID';
  constructor(
    readonly profile: string,
    message: string,
  ) {
    super(`registrations of profile ${profile}: ${message}`);
    this.name = 'RegistrationStatusError';
  }
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => name === 'registration',
});

export function text(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const result = String(value).trim();
  return result === '' ? null : result;
}

function decodeUrl(value: string | null): string | null {
  if (value === null) return null;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function splitStatus(raw: string | null): Pick<Registration, 'status' | 'transport' | 'expires' | 'expiresInSeconds'> {
  if (raw === null) return { status: null, transport: null, expires: null, expiresInSeconds: null };
  const head = /^([A-Za-z-]+)(?:\(([^)]*)\))?/.exec(raw);
  const expires = /exp\(([^)]*)\)/i.exec(raw);
  const seconds = /expsecs\((-?\d+)\)/i.exec(raw);
  return {
    status: head ? head[1] : null,
    transport: head?.[2] ? head[2] : null,
    expires: expires ? expires[1] : null,
    expiresInSeconds: seconds ? Number(seconds[1]) : null,
  };
}

function toRegistration(profile: string, entry: Record<string, unknown>): Registration | null {
  const user = text(entry.user);
  if (user === null) return null;
  const at = user.lastIndexOf('@');
  const rawStatus = text(entry.status);
  const port = text(entry['network-port']);
  return {
    profile,
    user,
    extension: at === -1 ? user : user.slice(0, at),
    domain: at === -1 ? '' : user.slice(at + 1).toLowerCase(),
    callId: text(entry['call-id']),
    contact: text(entry.contact),
    userAgent: text(entry.agent),
    rawStatus,
    ...splitStatus(rawStatus),
    pingStatus: text(entry['ping-status']),
    pingTimeMs: text(entry['ping-time']),
    host: text(entry.host),
    networkIp: text(entry['network-ip']),
    networkPort: port !== null && /^\d{1,5}$/.test(port) ? Number(port) : null,
    sipAuthUser: decodeUrl(text(entry['sip-auth-user'])),
    sipAuthRealm: text(entry['sip-auth-realm']),
    mwiAccount: text(entry['mwi-account']),
  };
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The five XML entities, in one pass (so `&amp;lt;` stays `&lt;`, as the XML parser leaves it). */
export function decodeNamedEntities(value: string): string {
  return value.includes('&') ? value.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => NAMED_ENTITIES[name]!) : value;
}

const REGISTRATION_OPEN = '<registration>';
const REGISTRATION_CLOSE = '</registration>';

/** Where the `<registration>` blocks of a reply are: content from starts[i] to ends[i]. */
export interface RegistrationBlocks {
  /** The reply as scanned (trimmed, control characters removed). */
  body: string;
  starts: number[];
  ends: number[];
}

/** The block bounds of a body in mod_sofia's flat shape (see scanRegistrationsXml); null for any other shape. */
function blockBounds(body: string): { starts: number[]; ends: number[] } | null {
  if (!body.startsWith('<') || !body.endsWith('</profile>') || /<!|&#/.test(body)) return null;
  const open = body.indexOf('<registrations>');
  const close = body.lastIndexOf('</registrations>');
  if (open === -1 || close < open || body.indexOf('<profile') === -1 || body.indexOf('<profile') > open) return null;
  const starts: number[] = [];
  const ends: number[] = [];
  let position = open + '<registrations>'.length;
  for (;;) {
    const start = body.indexOf(REGISTRATION_OPEN, position);
    if (start === -1 || start > close) break;
    if (!blank(body, position, start)) return null;
    const end = body.indexOf(REGISTRATION_CLOSE, start);
    if (end === -1 || end > close) return null;
    starts.push(start + REGISTRATION_OPEN.length);
    ends.push(end);
    position = end + REGISTRATION_CLOSE.length;
  }
  return blank(body, position, close) ? { starts, ends } : null;
}

/** Control characters break the XML parser; FusionPBX strips them the same way. */
const CONTROL_CHARACTERS = /[\x00-\x08\x0b\x0c\x0e-\x1f]/g;
const HAS_CONTROL_CHARACTER = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;

/** A whole reply (as parseRegistrationsXml takes it) cut into its blocks; null when only the XML parser can read it. */
export function scanRegistrationBlocks(reply: string): RegistrationBlocks | null {
  const trimmed = reply.trim();
  if (!trimmed.startsWith('<')) return null;
  // A test, cheaper than a replace that finds nothing (the usual reply has no control character).
  const body = HAS_CONTROL_CHARACTER.test(trimmed) ? trimmed.replace(CONTROL_CHARACTERS, '') : trimmed;
  const bounds = blockBounds(body);
  return bounds ? { body, ...bounds } : null;
}

/** One block's Registration: null for a block without a user, undefined for a block not in the flat shape. */
export function scanRegistrationEntry(body: string, from: number, to: number, profile: string): Registration | null | undefined {
  const entry = scanLeafElements(body, from, to);
  return entry ? toRegistration(profile, entry) : undefined;
}

/**
 * The fast path of parseRegistrationsXml for the one shape mod_sofia writes: `<profile>` with
 * `<registrations>` holding flat `<registration>` blocks of leaf elements, text only, the five named
 * entities. Scanned with indexOf, about ten times cheaper than a generic XML parse (a monitoring poll
 * reads every phone of a switch each minute). Anything else (an attribute, a nested element, CDATA, a
 * comment, a numeric entity, a repeated element, a document that does not end with `</profile>`)
 * answers null, and the caller parses with the XML parser, which also judges well-formedness.
 */
export function scanRegistrationsXml(body: string, profile: string): Registration[] | null {
  const bounds = blockBounds(body);
  if (!bounds) return null;
  const registrations: Registration[] = [];
  for (let index = 0; index < bounds.starts.length; index += 1) {
    const registration = scanRegistrationEntry(body, bounds.starts[index]!, bounds.ends[index]!, profile);
    if (registration === undefined) return null;
    if (registration) registrations.push(registration);
  }
  return registrations;
}

/** Whether body[from, to) is blank (what `.trim() === ''` says), without slicing it. */
function blank(body: string, from: number, to: number): boolean {
  for (let index = from; index < to; index += 1) {
    const code = body.charCodeAt(index);
    // Space, tab, LF, CR: all mod_sofia indents with. Anything else is judged by trim() itself.
    if (code !== 32 && code !== 10 && code !== 9 && code !== 13) return body.slice(from, to).trim() === '';
  }
  return true;
}

const ELEMENT_NAME = /^[A-Za-z][\w.-]*$/;
/** Element names already checked against ELEMENT_NAME (a reply has a dozen; bounded so odd input cannot grow it). */
const checkedNames = new Set<string>();

function validName(name: string): boolean {
  if (checkedNames.has(name)) return true;
  if (!ELEMENT_NAME.test(name)) return false;
  if (checkedNames.size < 256) checkedNames.add(name);
  return true;
}

/** `<name>text</name>` elements between `from` and `to`; null on anything else. */
function scanLeafElements(body: string, from: number, to: number): Record<string, string> | null {
  const entry: Record<string, string> = {};
  let position = from;
  for (;;) {
    const lt = body.indexOf('<', position);
    if (lt === -1 || lt >= to) return blank(body, position, to) ? entry : null;
    if (!blank(body, position, lt)) return null;
    const gt = body.indexOf('>', lt);
    if (gt === -1 || gt > to) return null;
    const tag = body.slice(lt + 1, gt);
    if (tag.endsWith('/')) {
      const name = tag.slice(0, -1);
      if (!validName(name) || name in entry) return null;
      entry[name] = '';
      position = gt + 1;
      continue;
    }
    if (!validName(tag) || tag in entry) return null;
    // Text has no '<' (mod_sofia escapes it), so the next '<' must open this element's end tag.
    const valueEnd = body.indexOf('<', gt + 1);
    const closeEnd = valueEnd + 2 + tag.length;
    if (valueEnd === -1 || valueEnd >= to || body.charCodeAt(valueEnd + 1) !== 47 || !body.startsWith(tag, valueEnd + 2) || body.charCodeAt(closeEnd) !== 62) return null;
    entry[tag] = decodeNamedEntities(body.slice(gt + 1, valueEnd).trim());
    position = closeEnd + 1;
  }
}

/** Parses one profile's reply. `Invalid Profile!` and other non-XML replies throw RegistrationStatusError. */
export function parseRegistrationsXml(body: string, profile: string): Registration[] {
  const trimmed = body.trim();
  if (!trimmed.startsWith('<')) throw new RegistrationStatusError(profile, trimmed.split('\n')[0].slice(0, 200) || 'empty reply');
  const clean = trimmed.replace(CONTROL_CHARACTERS, '');
  const scanned = scanRegistrationsXml(clean, profile);
  if (scanned) return scanned;
  let document: Record<string, unknown>;
  try {
    document = parser.parse(clean, true) as Record<string, unknown>;
  } catch (error) {
    throw new RegistrationStatusError(profile, `not well-formed XML (${(error as Error).message.split('\n')[0]})`);
  }
  const root = document.profile as Record<string, unknown> | undefined;
  if (!root || typeof root !== 'object') throw new RegistrationStatusError(profile, 'no <profile> element');
  const registrations = (root.registrations ?? {}) as Record<string, unknown> | string;
  if (typeof registrations !== 'object') return [];
  const entries = (registrations.registration ?? []) as Record<string, unknown>[];
  return entries.map((entry) => toRegistration(profile, entry)).filter((entry): entry is Registration => entry !== null);
}

/** FusionPBX's domain filter: sip-auth-realm equals the domain, or the user's host part does. */
export function registrationsForDomain(registrations: readonly Registration[], domainName: string): Registration[] {
  const domain = domainName.toLowerCase();
  return registrations.filter((entry) => entry.domain === domain || entry.sipAuthRealm?.toLowerCase() === domain);
}

const REGISTRATION_BLOCK = /<registration>[\s\S]*?<\/registration>/g;

/**
 * One tenant's registrations from a whole profile's reply. A busy switch answers with megabytes of XML
 * for thousands of tenants; only the `<registration>` blocks that mention the domain are parsed (a
 * cheap superset), then filtered exactly as registrationsForDomain does.
 */
export function parseRegistrationsForDomain(body: string, profile: string, domainName: string): Registration[] {
  const trimmed = body.trimStart();
  if (!trimmed.startsWith('<')) return parseRegistrationsXml(body, profile);
  const needle = domainName.toLowerCase();
  const blocks: string[] = [];
  for (const match of trimmed.matchAll(REGISTRATION_BLOCK)) {
    if (match[0].toLowerCase().includes(needle)) blocks.push(match[0]);
  }
  if (blocks.length === 0 && !/<profile[\s>]/.test(trimmed)) return parseRegistrationsXml(body, profile);
  return registrationsForDomain(parseRegistrationsXml(`<profile><registrations>${blocks.join('')}</registrations></profile>`, profile), domainName);
}
