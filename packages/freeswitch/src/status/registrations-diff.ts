import { type Registration, scanRegistrationEntry } from './registrations';
import { blockRanges, CONTROL_CHARACTER, type IndexedReply, matchButVolatile, Int32Sink, sameStretch, steadyReplyOf } from './registrations-steady';

/**
 * A reply compared with the last one block by block. FreeSWITCH keeps a profile's registrations in
 * one table: a phone refreshing its registration is an UPDATE of its row (its block changes in
 * place), a phone registering is an INSERT (a block appears, usually last) and an expiry or an
 * unregister is a DELETE (its block goes, the others stay as they were). So between two polls the
 * blocks that stay keep their order; the diff lines them up and reports the others as removed from
 * the last reply and inserted in the new one. The volatile values (`expsecs(…)` digits,
 * `<ping-time>`) are skipped as in sameButVolatile.
 */
export interface ChangedBlock {
  /** Its position in the new reply. */
  index: number;
  /** As parseRegistrationsXml reads the block; null for a block without a user. */
  registration: Registration | null;
}

export interface ReplyDiff {
  /** The new reply, indexed. */
  next: IndexedReply;
  /** The blocks of the new reply that are not a block of the last one (new, moved, rewritten), in order. */
  changed: ChangedBlock[];
  /** The blocks of the last reply (by index) that are not in the new one (gone, moved, rewritten), in order. */
  removed: number[];
  /**
   * Per block of the last reply, its index in the new one; for a removed block, -1 minus the new
   * index of the first kept block after it (or the new reply's block count): any block that stays
   * and came after it in the last reply is there or later.
   */
  positions: Int32Array;
}

const REGISTRATION_OPEN = Buffer.from('<registration>');
const REGISTRATION_CLOSE = '</registration>';
const CALL_ID_OPEN = Buffer.from('<call-id>');
const CALL_ID_CLOSE = '</call-id>';
/** What would send the whole reply to the XML parser (see blockBounds): a changed block holding it is left to a full parse. */
const NOT_FLAT = /<!|&#/;
/** How far ahead (in the last reply's blocks) a run of removed or inserted blocks is looked for by its call-id. */
const LOOKAHEAD_BLOCKS = 256;
/** The small realignments tried first, in order: [last blocks removed, new blocks inserted] (one gone, one new, one rewritten, two of either). */
const NEAR_STEPS: readonly (readonly [number, number])[] = [
  [1, 0],
  [0, 1],
  [1, 1],
  [2, 0],
  [0, 2],
];
/** In the upcoming block starts of the new reply: where its trailer begins (no more blocks). */
const TRAILER = -2;

/**
 * The diff of `next` against `last`, each inserted block read as the full parse reads it. Null when
 * `next` is not `last` with blocks removed, inserted or rewritten: another header or trailer,
 * anything but blanks between blocks, more than `maxChanged` blocks inserted or removed, an inserted
 * block the flat-shape scanner does not read, or a last reply without blocks and another new one. Any lining-up is exact
 * (a kept block is byte for byte the same but for volatile values, so it reads the same); a better
 * one only means fewer blocks read.
 */
export function diffReply(last: IndexedReply, next: Buffer, profile: string, maxChanged: number): ReplyDiff | null {
  const count = last.blocks.length / 2;
  // Without a block there is no telling the header from the trailer: the same reply again, or a full parse.
  if (count === 0) return next.equals(last.bytes) ? { next: { ...last, bytes: next }, changed: [], removed: [], positions: new Int32Array(0) } : null;
  if (!sameStretch(last.bytes, 0, last.blocks[0]!, next, 0)) return null;
  const inPlace = diffInPlace(last, next, profile, maxChanged);
  if (inPlace !== undefined) return inPlace;
  const walk = new Walk(last, next, profile);
  let at = last.blocks[0]!;
  let block = 0;
  while (!walk.isTrailer(at)) {
    // The usual case: the block where it was, after the blank it had.
    const kept = block < count ? walk.keepAfterBlank(block, at) : -1;
    if (kept !== -1) {
      block += 1;
      at = kept;
      continue;
    }
    const start = blockStart(next, at);
    if (start === -1) return null;
    if (block < count) {
      const end = walk.keep(block, start);
      if (end !== -1) {
        block += 1;
        at = end;
        continue;
      }
    }
    const [removed, inserted] = block < count ? walk.realign(block, start) : [0, 1];
    for (let gone = 0; gone < removed; gone += 1) walk.remove(block + gone);
    block += removed;
    at = start;
    for (let added = 0; added < inserted; added += 1) {
      at = walk.insert(blockStart(next, at));
      if (at === -1) return null;
    }
    if (walk.changed.length > maxChanged || walk.removed.length > maxChanged) return null;
  }
  for (; block < count; block += 1) walk.remove(block);
  return walk.removed.length > maxChanged ? null : walk.result();
}

/**
 * The usual poll first (some phones refreshed, none gone or new): every block where it was, each
 * changed one still the same registration (its call-id at the same place). Twice as cheap as the
 * walk below, which it leaves the reply to (undefined) at the first block that is another
 * registration; null for what neither takes (as diffReply).
 */
function diffInPlace(last: IndexedReply, next: Buffer, profile: string, maxChanged: number): ReplyDiff | null | undefined {
  const count = last.blocks.length / 2;
  const { bytes: lastBytes, ranges: lastRanges, blocks: lastBlocks, firstRange: lastFirstRange } = last;
  const blocks = new Int32Array(lastBlocks.length);
  const firstRange = new Int32Array(count + 1);
  const positions = new Int32Array(count);
  // A changed block has at most two volatile values, as any other: room for them all, bar a few more.
  const ranges = new Int32Sink(lastRanges.length + 6 * 8);
  const changed: ChangedBlock[] = [];
  const removed: number[] = [];
  let lastPosition = 0;
  let nextPosition = 0;
  for (let block = 0; block < count; block += 1) {
    const start = lastBlocks[2 * block]!;
    const to = lastBlocks[2 * block + 1]!;
    const nextStart = nextPosition + (start - lastPosition);
    firstRange[block] = ranges.length / 3;
    // The header or the blank before the block, and the block, in one compare up to its first volatile value.
    let end = matchButVolatile(lastBytes, lastRanges, lastFirstRange[block]!, lastFirstRange[block + 1]!, lastPosition, to, next, nextPosition, ranges);
    positions[block] = block;
    if (end === -1) {
      // The header, or the blank between two blocks: byte for byte.
      if (!sameStretch(lastBytes, lastPosition, start, next, nextPosition)) return undefined;
      if (changed.length >= maxChanged) return null;
      if (!sameCallId(lastBytes, start, to, next, nextStart)) return undefined;
      ranges.length = firstRange[block]! * 3;
      const read = readBlock(next, nextStart, profile, ranges);
      if (!read) return null;
      changed.push({ index: block, registration: read.registration });
      removed.push(block);
      // Its place: the next kept block's index, or the count (set below).
      positions[block] = -1;
      end = read.end;
    }
    blocks[2 * block] = nextStart;
    blocks[2 * block + 1] = end;
    nextPosition = end;
    lastPosition = to;
  }
  firstRange[count] = ranges.length / 3;
  if (next.length - nextPosition !== lastBytes.length - lastPosition || !sameStretch(lastBytes, lastPosition, lastBytes.length, next, nextPosition)) return undefined;
  let following = count;
  for (let block = count - 1; block >= 0; block -= 1) {
    if (positions[block]! >= 0) following = block;
    else positions[block] = -1 - following;
  }
  return { next: { bytes: next, ranges: ranges.written(), blocks, firstRange }, changed, removed, positions };
}

/**
 * Whether the block of `next` at `at` starts as `last[from, to)` does up to the end of its first
 * element, when that is its `<call-id>` (as mod_sofia writes it): the same registration. Read with a
 * loop over a few dozen bytes (Buffer.indexOf per changed block cost more than the whole compare).
 */
function sameCallId(last: Buffer, from: number, to: number, next: Buffer, at: number): boolean {
  let position = from + REGISTRATION_OPEN.length;
  while (position < to && isBlank(last[position]!)) position += 1;
  for (let index = 0; index < CALL_ID_OPEN.length; index += 1) if (last[position + index] !== CALL_ID_OPEN[index]) return false;
  position += CALL_ID_OPEN.length;
  while (position < to && last[position] !== 0x3c) position += 1;
  const end = position + CALL_ID_CLOSE.length;
  return end <= to && last.toString('latin1', position, end) === CALL_ID_CLOSE && sameStretch(last, from, end, next, at);
}

/** The state of one diff: the new reply's index as it is built, and what was kept, removed, inserted. */
class Walk {
  readonly changed: ChangedBlock[] = [];
  readonly removed: number[] = [];
  private readonly positions: Int32Array;
  private readonly blocks: Int32Sink;
  private readonly firstRange: Int32Sink;
  private readonly ranges: Int32Sink;
  private readonly trailerFrom: number;

  constructor(
    private readonly last: IndexedReply,
    private readonly next: Buffer,
    private readonly profile: string,
  ) {
    this.positions = new Int32Array(last.blocks.length / 2).fill(-1);
    this.ranges = new Int32Sink(last.ranges.length + 6 * 8);
    this.blocks = new Int32Sink(last.blocks.length + 2 * 8);
    this.firstRange = new Int32Sink(last.firstRange.length + 8);
    this.trailerFrom = last.blocks[last.blocks.length - 1]!;
  }

  /** Whether the new reply's trailer (the last one's, byte for byte) starts at `at`. */
  isTrailer(at: number): boolean {
    return this.next.length - at === this.last.bytes.length - this.trailerFrom && sameStretch(this.last.bytes, this.trailerFrom, this.last.bytes.length, this.next, at);
  }

  /** Block `block` of the last reply kept at `start` when it is there but for volatile values: where it ends; -1 otherwise (nothing recorded). */
  keep(block: number, start: number): number {
    const rangesBefore = this.ranges.length;
    const end = this.matches(block, start, this.ranges);
    if (end === -1) {
      this.ranges.length = rangesBefore;
      return -1;
    }
    this.record(block, start, end, rangesBefore);
    return end;
  }

  /**
   * keep() of block `block` after the blank that came before it in the last reply (blanks only), at
   * `at`: one compare for the blank and the block's head instead of a scan for the block's start and
   * a compare each. -1 when the new reply has anything else there (then blockStart and keep decide).
   */
  keepAfterBlank(block: number, at: number): number {
    const { bytes, blocks, ranges, firstRange } = this.last;
    const start = blocks[2 * block]!;
    const from = block > 0 ? blocks[2 * block - 1]! : start;
    for (let position = from; position < start; position += 1) if (!isBlank(bytes[position]!)) return -1;
    const rangesBefore = this.ranges.length;
    const end = matchButVolatile(bytes, ranges, firstRange[block]!, firstRange[block + 1]!, from, blocks[2 * block + 1]!, this.next, at, this.ranges);
    if (end === -1) {
      this.ranges.length = rangesBefore;
      return -1;
    }
    this.record(block, at + (start - from), end, rangesBefore);
    return end;
  }

  private record(block: number, start: number, end: number, rangesBefore: number): void {
    this.positions[block] = this.blocks.length / 2;
    this.firstRange.pushOne(rangesBefore / 3);
    this.blocks.pushPair(start, end);
  }

  remove(block: number): void {
    this.removed.push(block);
  }

  /** The block at `start` read as a new one: where it ends; -1 when the flat-shape scanner would not read it. */
  insert(start: number): number {
    if (start === -1) return -1;
    const rangesBefore = this.ranges.length;
    const read = readBlock(this.next, start, this.profile, this.ranges);
    if (!read) return -1;
    this.changed.push({ index: this.blocks.length / 2, registration: read.registration });
    this.firstRange.pushOne(rangesBefore / 3);
    this.blocks.pushPair(start, read.end);
    return read.end;
  }

  /**
   * How many blocks of the last reply from `block` are gone, and how many of the new reply from
   * `start` are new, before the two line up again. First the near cases (one or two removed,
   * inserted or rewritten), then a run found by its call-id within LOOKAHEAD_BLOCKS; otherwise the
   * block is taken as rewritten (one removed, one inserted), which is always right, only dearer.
   */
  realign(block: number, start: number): [number, number] {
    const count = this.last.blocks.length / 2;
    const upcoming = [start];
    for (const [removed, inserted] of NEAR_STEPS) {
      const at = this.upcoming(upcoming, inserted);
      if (at === TRAILER ? block + removed === count : at >= 0 && block + removed < count && this.matches(block + removed, at) !== -1) return [removed, inserted];
    }
    const lookahead = Math.min(count - 1, block + LOOKAHEAD_BLOCKS);
    const span = this.last.blocks[2 * lookahead + 1]! - this.last.blocks[2 * block]!;
    // A run removed: the new block's call-id further on in the last reply.
    const found = findCallId(this.next, start, this.last.bytes, this.last.blocks[2 * block]!, this.last.blocks[2 * lookahead + 1]!);
    if (found !== -1) {
      const at = blockOf(this.last.blocks, found);
      if (at > block && this.matches(at, start) !== -1) return [at - block, 0];
    }
    // A run inserted: the last block's call-id further on in the new reply.
    const ahead = findCallId(this.last.bytes, this.last.blocks[2 * block]!, this.next, start, Math.min(this.next.length, start + 2 * span));
    if (ahead !== -1) {
      const at = this.next.lastIndexOf(REGISTRATION_OPEN, ahead);
      if (at > start && this.matches(block, at) !== -1) {
        for (let inserted = 1; inserted <= LOOKAHEAD_BLOCKS * 2; inserted += 1) {
          const position = this.upcoming(upcoming, inserted);
          if (position === at) return [0, inserted];
          if (position < 0 || position > at) break;
        }
      }
    }
    return [1, 1];
  }

  result(): ReplyDiff {
    // A removed block's slot: the new index of the first kept block after it.
    let following = this.blocks.length / 2;
    for (let block = this.positions.length - 1; block >= 0; block -= 1) {
      if (this.positions[block]! >= 0) following = this.positions[block]!;
      else this.positions[block] = -1 - following;
    }
    this.firstRange.pushOne(this.ranges.length / 3);
    return {
      next: { bytes: this.next, ranges: this.ranges.written(), blocks: this.blocks.written(), firstRange: this.firstRange.written() },
      changed: this.changed,
      removed: this.removed,
      positions: this.positions,
    };
  }

  /** Where block `block` of the last reply ends in the new one when the new one holds it from `at` but for volatile values; -1 otherwise. */
  private matches(block: number, at: number, sink?: Int32Sink): number {
    const { last } = this;
    return matchButVolatile(
      last.bytes,
      last.ranges,
      last.firstRange[block]!,
      last.firstRange[block + 1]!,
      last.blocks[2 * block]!,
      last.blocks[2 * block + 1]!,
      this.next,
      at,
      sink,
    );
  }

  /** The start of the new reply's `index`-th block from `upcoming[0]` (filled in as needed); TRAILER when the trailer comes first, -1 when neither does. */
  private upcoming(upcoming: number[], index: number): number {
    while (upcoming.length <= index) {
      const previous = upcoming[upcoming.length - 1]!;
      if (previous < 0) return -1;
      const close = this.next.indexOf(REGISTRATION_CLOSE, previous + REGISTRATION_OPEN.length, 'latin1');
      const end = close === -1 ? -1 : close + REGISTRATION_CLOSE.length;
      upcoming.push(end === -1 ? -1 : this.isTrailer(end) ? TRAILER : blockStart(this.next, end));
    }
    return upcoming[index]!;
  }
}

/**
 * A Walk kept for the module's life (of a one-block reply), as SINK_SHAPE_KEEPER: with no Walk left
 * between two polls a full garbage collection frees its map and deoptimizes the walk's methods.
 */
const TINY_REPLY = steadyReplyOf(Buffer.from('<registrations>\n<registration>\n</registration>\n</registrations>'))!;
export const WALK_SHAPE_KEEPER: unknown = new Walk(TINY_REPLY, TINY_REPLY.bytes, '');

/** A space, newline, tab or carriage return: what mod_sofia indents with. */
function isBlank(code: number): boolean {
  return code === 32 || code === 10 || code === 9 || code === 13;
}

/** Where a block starts at `at` after blanks; -1 when no `<registration>` follows them. */
function blockStart(next: Buffer, at: number): number {
  let position = at;
  while (position < next.length && isBlank(next[position]!)) position += 1;
  return next.compare(REGISTRATION_OPEN, 0, REGISTRATION_OPEN.length, position, position + REGISTRATION_OPEN.length) === 0 ? position : -1;
}

/** The block of `blocks` (start/end pairs) holding byte `position`. */
function blockOf(blocks: Int32Array, position: number): number {
  let low = 0;
  let high = blocks.length / 2 - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (blocks[2 * middle]! <= position) low = middle;
    else high = middle - 1;
  }
  return low;
}

/**
 * Where the `<call-id>…</call-id>` of the block at `from` in `source` occurs in `target[start, end)`;
 * -1 when the block has none or it is not there. A call-id names one registration: the same phone's
 * block, moved by the blocks gone or new before it.
 */
function findCallId(source: Buffer, from: number, target: Buffer, start: number, end: number): number {
  const blockEnd = source.indexOf(REGISTRATION_CLOSE, from, 'latin1');
  const open = source.indexOf(CALL_ID_OPEN, from);
  if (open === -1 || blockEnd === -1 || open > blockEnd) return -1;
  const close = source.indexOf(CALL_ID_CLOSE, open, 'latin1');
  if (close === -1 || close > blockEnd) return -1;
  const needle = source.subarray(open, close + CALL_ID_CLOSE.length);
  const found = target.subarray(0, end).indexOf(needle, start);
  return found;
}

/** The block of `next` starting at `at`, read as the flat-shape scanner reads it (its volatile ranges appended); null when it would not be. */
function readBlock(next: Buffer, at: number, profile: string, ranges: Int32Sink): { registration: Registration | null; end: number } | null {
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
