import { type Registration, scanRegistrationEntry } from './registrations';
import { blockRanges, CONTROL_CHARACTER, type IndexedReply, matchButVolatile, sameStretch } from './registrations-steady';

/**
 * A reply compared with the last one block by block. FreeSWITCH keeps a profile's registrations in
 * one table and a phone refreshing its registration is an UPDATE of its row, so between two polls
 * the blocks keep their order and only some change (a new `exp(…)`, another contact); the volatile
 * values (`expsecs(…)` digits, `<ping-time>`) are skipped as in sameButVolatile.
 */
export interface ChangedBlock {
  /** Its position, the same in both replies. */
  index: number;
  /** As parseRegistrationsXml reads the block; null for a block without a user. */
  registration: Registration | null;
}

export interface ReplyDiff {
  /** The new reply, indexed. */
  next: IndexedReply;
  changed: ChangedBlock[];
}

const REGISTRATION_OPEN = Buffer.from('<registration>');
const REGISTRATION_CLOSE = '</registration>';
/** What would send the whole reply to the XML parser (see blockBounds): a changed block holding it is left to a full parse. */
const NOT_FLAT = /<!|&#/;

/**
 * The blocks of `next` that differ from `last`'s at the same position (beyond volatile values), each
 * read as the full parse reads it. Null when `next` is not `last` with some blocks rewritten in place:
 * another header or trailer, a block more or fewer (a stretch between blocks no longer matches),
 * more than `maxChanged` changed blocks, or a changed block the flat-shape scanner does not read.
 * Whether a changed block is still the same phone (its user) is the caller's to judge.
 */
export function diffReply(last: IndexedReply, next: Buffer, profile: string, maxChanged: number): ReplyDiff | null {
  const count = last.blocks.length / 2;
  const blocks = new Int32Array(last.blocks.length);
  const firstRange = new Int32Array(count + 1);
  const ranges: number[] = [];
  const changed: ChangedBlock[] = [];
  let lastPosition = 0;
  let nextPosition = 0;
  for (let block = 0; block < count; block += 1) {
    const start = last.blocks[2 * block]!;
    // The header, or the blank between two blocks: byte for byte.
    if (!sameStretch(last.bytes, lastPosition, start, next, nextPosition)) return null;
    nextPosition += start - lastPosition;
    firstRange[block] = ranges.length / 3;
    let end = sameBlock(last, block, next, nextPosition, ranges);
    if (end === -1) {
      if (changed.length >= maxChanged) return null;
      ranges.length = firstRange[block]! * 3;
      const read = readBlock(next, nextPosition, profile, ranges);
      if (!read) return null;
      changed.push({ index: block, registration: read.registration });
      end = read.end;
    }
    blocks[2 * block] = nextPosition;
    blocks[2 * block + 1] = end;
    nextPosition = end;
    lastPosition = last.blocks[2 * block + 1]!;
  }
  firstRange[count] = ranges.length / 3;
  if (next.length - nextPosition !== last.bytes.length - lastPosition || !sameStretch(last.bytes, lastPosition, last.bytes.length, next, nextPosition)) return null;
  return { next: { bytes: next, ranges: Int32Array.from(ranges), blocks, firstRange }, changed };
}

/** Where block `block` of `last` ends in `next` when `next` holds it from `at` but for its volatile values (whose ranges it appends); -1 otherwise. */
function sameBlock(last: IndexedReply, block: number, next: Buffer, at: number, ranges: number[]): number {
  const from = last.blocks[2 * block]!;
  const to = last.blocks[2 * block + 1]!;
  return matchButVolatile(last.bytes, last.ranges, last.firstRange[block]!, last.firstRange[block + 1]!, from, to, next, at, (start, end, kind) => ranges.push(start, end, kind));
}

/** The block of `next` starting at `at`, read as the flat-shape scanner reads it (its volatile ranges appended); null when it would not be. */
function readBlock(next: Buffer, at: number, profile: string, ranges: number[]): { registration: Registration | null; end: number } | null {
  if (next.compare(REGISTRATION_OPEN, 0, REGISTRATION_OPEN.length, at, at + REGISTRATION_OPEN.length) !== 0) return null;
  const close = next.indexOf(REGISTRATION_CLOSE, at + REGISTRATION_OPEN.length, 'latin1');
  if (close === -1) return null;
  const end = close + REGISTRATION_CLOSE.length;
  const bytesText = next.toString('latin1', at, end);
  if (CONTROL_CHARACTER.test(bytesText) || NOT_FLAT.test(bytesText)) return null;
  blockRanges(bytesText, 0, close - at, at, ranges);
  // Decoded as the full parse decodes the whole reply: the block's edges are ASCII, so its characters are the same.
  const text = next.toString('utf8', at, end);
  const registration = scanRegistrationEntry(text, REGISTRATION_OPEN.length, text.length - REGISTRATION_CLOSE.length, profile);
  return registration === undefined ? null : { registration, end };
}
