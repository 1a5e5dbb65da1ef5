import { decodeNamedEntities, parseRegistrationsXml, type Registration, scanRegistrationBlocks, scanRegistrationEntry, splitStatus, text } from './registrations';
import { type IndexedReply, steadyReplyOf } from './registrations-steady';

/**
 * parseRegistrationsXml for a reply polled again and again (the monitoring poll reads every phone of
 * a switch each minute). Between two polls a phone's `<registration>` block changes only in what
 * counts down or is re-measured: the seconds in `expsecs(…)` and the `<ping-time>`. A block equal to
 * one of the last reply's but for those is not scanned again: its Registration is the last one with
 * the status and ping time read anew. The answer equals parseRegistrationsXml's (a test holds them
 * equal); a reply of another shape goes to parseRegistrationsXml and empties the cache.
 */
/** A block of the last reply: its Registration, and its text but for the volatile parts (one piece, or three around them). */
interface Remembered {
  registration: Registration;
  pieces: string[];
}

export class RegistrationsReplyCache {
  /** The last reply's blocks by their `<user>` text (a user registered from two phones has two). */
  private last = new Map<string, Remembered[]>();

  /** Blocks read anew by the last parse (not found in the cache): what a test and a benchmark look at; -1 when the XML parser read the reply. */
  misses = 0;

  /** The last parse's Registration of each block, in order (null for a block without a user); null when the XML parser read the reply. */
  blocks: (Registration | null)[] | null = null;

  parse(body: string, profile: string): Registration[] {
    const blocks = scanRegistrationBlocks(body);
    if (!blocks) return this.reset(body, profile);
    const next = new Map<string, Remembered[]>();
    const registrations: Registration[] = [];
    const perBlock: (Registration | null)[] = [];
    let misses = 0;
    for (let index = 0; index < blocks.starts.length; index += 1) {
      const from = blocks.starts[index]!;
      const to = blocks.ends[index]!;
      const volatile = volatileParts(blocks.body, from, to);
      const user = userOf(blocks.body, from, to);
      const pieces = volatile
        ? [blocks.body.slice(from, volatile.expsecsFrom), blocks.body.slice(volatile.expsecsTo, volatile.pingFrom), blocks.body.slice(volatile.pingTo, to)]
        : [blocks.body.slice(from, to)];
      const known = user === null ? undefined : (this.last.get(user) ?? next.get(user))?.find((candidate) => samePieces(pieces, candidate.pieces));
      let registration: Registration | null;
      if (known && volatile) {
        registration = withVolatile(known.registration, blocks.body, volatile);
      } else if (known) {
        registration = known.registration;
      } else {
        misses += 1;
        const scanned = scanRegistrationEntry(blocks.body, from, to, profile);
        if (scanned === undefined) return this.reset(body, profile);
        registration = scanned;
      }
      perBlock.push(registration);
      if (!registration) continue;
      registrations.push(registration);
      if (user === null) continue;
      const same = next.get(user);
      if (same) same.push({ registration, pieces });
      else next.set(user, [{ registration, pieces }]);
    }
    this.last = next;
    this.misses = misses;
    this.blocks = perBlock;
    return registrations;
  }

  /**
   * parse() of a reply's bytes, with what sameButVolatile and diffReply compare the next reply against
   * and each block's Registration (null when the flat-shape scanner did not read it, or when the
   * byte index does not find the blocks the parse found).
   */
  parseBytes(bytes: Buffer, profile: string): { registrations: Registration[]; steady: IndexedReply | null; blocks: (Registration | null)[] | null } {
    const registrations = this.parse(bytes.toString('utf8'), profile);
    const steady = this.misses >= 0 ? steadyReplyOf(bytes) : null;
    const blocks = steady && this.blocks && this.blocks.length === steady.blocks.length / 2 ? this.blocks : null;
    return { registrations, steady, blocks };
  }

  private reset(body: string, profile: string): Registration[] {
    this.last = new Map();
    this.misses = -1;
    this.blocks = null;
    return parseRegistrationsXml(body, profile);
  }
}

/** The text of the block's `<user>` element as written (the cache's lookup key); null without one. */
function userOf(body: string, from: number, to: number): string | null {
  const open = body.indexOf('<user>', from);
  if (open === -1 || open >= to) return null;
  const close = body.indexOf('<', open + 6);
  return close === -1 || close >= to ? null : body.slice(open + 6, close);
}

/** Whether a block's pieces equal a remembered block's (`===` on strings compares their bytes natively; startsWith at an offset did not). */
function samePieces(pieces: readonly string[], remembered: readonly string[]): boolean {
  if (pieces.length !== remembered.length) return false;
  for (let index = 0; index < pieces.length; index += 1) if (pieces[index] !== remembered[index]) return false;
  return true;
}

/** The remembered Registration with this block's status and ping time, read exactly as the scanner reads an element's text. */
function withVolatile(known: Registration, body: string, volatile: VolatileParts): Registration {
  const rawStatus = text(decodeNamedEntities(body.slice(volatile.statusFrom, volatile.statusTo).trim()));
  const status = splitStatus(rawStatus);
  const registration = { ...known };
  registration.rawStatus = rawStatus;
  registration.status = status.status;
  registration.transport = status.transport;
  registration.expires = status.expires;
  registration.expiresInSeconds = status.expiresInSeconds;
  registration.pingTimeMs = text(decodeNamedEntities(body.slice(volatile.pingFrom, volatile.pingTo).trim()));
  return registration;
}

interface VolatileParts {
  statusFrom: number;
  statusTo: number;
  expsecsFrom: number;
  expsecsTo: number;
  pingFrom: number;
  pingTo: number;
}

const STATUS_OPEN = '<status>';
const EXPSECS = ' expsecs(';
const PING_OPEN = '<ping-time>';

/**
 * Where a block's volatile text is: the digits of `expsecs(…)` inside `<status>`, the text of
 * `<ping-time>`. Null when the block does not have both in the plain form (then the whole block is
 * the key, and any change is a miss).
 */
function volatileParts(body: string, from: number, to: number): VolatileParts | null {
  const statusOpen = body.indexOf(STATUS_OPEN, from);
  if (statusOpen === -1 || statusOpen >= to) return null;
  const statusFrom = statusOpen + STATUS_OPEN.length;
  const statusTo = body.indexOf('<', statusFrom);
  if (statusTo === -1 || statusTo >= to || !body.startsWith('</status>', statusTo)) return null;
  const expsecs = body.indexOf(EXPSECS, statusFrom);
  if (expsecs === -1 || expsecs >= statusTo) return null;
  const expsecsFrom = expsecs + EXPSECS.length;
  const expsecsTo = body.indexOf(')', expsecsFrom);
  if (expsecsTo === -1 || expsecsTo >= statusTo || !digitsOnly(body, expsecsFrom, expsecsTo)) return null;
  const pingOpen = body.indexOf(PING_OPEN, statusTo);
  if (pingOpen === -1 || pingOpen >= to) return null;
  const pingFrom = pingOpen + PING_OPEN.length;
  const pingTo = body.indexOf('<', pingFrom);
  if (pingTo === -1 || pingTo >= to || !body.startsWith('</ping-time>', pingTo)) return null;
  return { statusFrom, statusTo, expsecsFrom, expsecsTo, pingFrom, pingTo };
}

function digitsOnly(body: string, from: number, to: number): boolean {
  if (from === to) return false;
  for (let index = from; index < to; index += 1) {
    const code = body.charCodeAt(index);
    if (code < 48 || code > 57) return false;
  }
  return true;
}
