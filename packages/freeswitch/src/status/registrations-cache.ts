import { decodeNamedEntities, parseRegistrationsXml, type Registration, scanRegistrationBlocks, scanRegistrationEntry, splitStatus, text } from './registrations';

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

  parse(body: string, profile: string): Registration[] {
    const blocks = scanRegistrationBlocks(body);
    if (!blocks) return this.reset(body, profile);
    const next = new Map<string, Remembered[]>();
    const registrations: Registration[] = [];
    let misses = 0;
    for (let index = 0; index < blocks.starts.length; index += 1) {
      const from = blocks.starts[index]!;
      const to = blocks.ends[index]!;
      const volatile = volatileParts(blocks.body, from, to);
      const user = userOf(blocks.body, from, to);
      const bounds = volatile ? [from, volatile.expsecsFrom, volatile.expsecsTo, volatile.pingFrom, volatile.pingTo, to] : [from, to];
      const known = user === null ? undefined : (this.last.get(user) ?? next.get(user))?.find((candidate) => samePieces(blocks.body, bounds, candidate.pieces));
      let registration: Registration | null;
      if (known && volatile) {
        // Read exactly as the scanner reads an element's text.
        const rawStatus = text(decodeNamedEntities(blocks.body.slice(volatile.statusFrom, volatile.statusTo).trim()));
        const pingTimeMs = text(decodeNamedEntities(blocks.body.slice(volatile.pingFrom, volatile.pingTo).trim()));
        registration = { ...known.registration, rawStatus, ...splitStatus(rawStatus), pingTimeMs };
      } else if (known) {
        registration = known.registration;
      } else {
        misses += 1;
        const scanned = scanRegistrationEntry(blocks.body, from, to, profile);
        if (scanned === undefined) return this.reset(body, profile);
        registration = scanned;
      }
      if (!registration) continue;
      registrations.push(registration);
      if (user === null) continue;
      const pieces: string[] = [];
      for (let piece = 0; piece < bounds.length; piece += 2) pieces.push(blocks.body.slice(bounds[piece], bounds[piece + 1]));
      const same = next.get(user);
      if (same) same.push({ registration, pieces });
      else next.set(user, [{ registration, pieces }]);
    }
    this.last = next;
    this.misses = misses;
    return registrations;
  }

  private reset(body: string, profile: string): Registration[] {
    this.last = new Map();
    this.misses = -1;
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

/** Whether the text between the bounds (pairs: from, to) equals the remembered pieces, compared in place. */
function samePieces(body: string, bounds: readonly number[], pieces: readonly string[]): boolean {
  if (pieces.length * 2 !== bounds.length) return false;
  for (let piece = 0; piece < pieces.length; piece += 1) {
    const from = bounds[piece * 2]!;
    const text = pieces[piece]!;
    if (bounds[piece * 2 + 1]! - from !== text.length || !body.startsWith(text, from)) return false;
  }
  return true;
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
