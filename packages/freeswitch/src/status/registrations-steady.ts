/**
 * Whether a `sofia xmlstatus profile '<p>' reg` reply says the same as the last one, read on its bytes
 * without decoding or parsing it. Between two polls of a quiet switch a reply changes only in what
 * counts down or is re-measured: the seconds of `expsecs(…)` and the `<ping-time>`. A reply equal to
 * the last one but for those values parses to the same registrations but for `rawStatus`,
 * `expiresInSeconds` and `pingTimeMs` (a property test holds the two paths equal), so a monitoring
 * poll can reuse the last poll's outcome: a memcmp of each stretch between volatile values instead of
 * a UTF-8 decode and a scan of megabytes.
 */

/** A reply's bytes and where its volatile values are. */
export interface SteadyReply {
  readonly bytes: Buffer;
  /** Triples: start, end (exclusive) and kind (SECONDS or PING_TIME_TEXT) of each volatile value, in order. */
  readonly ranges: Int32Array;
}

/** The kinds of volatile value: the digits of `expsecs(…)` (a minus sign allowed first: a registration past its expiry), the text of `<ping-time>`. */
const SECONDS = 0;
const PING_TIME_TEXT = 1;

/**
 * The status mod_sofia writes (`Registered(UDP-NAT)(unknown) exp(2025-05-13 18:29:38) expsecs(3598)`).
 * Only in this exact form are the seconds volatile: there they cannot reach into the status word, the
 * transport or `exp(…)`, which the poll keeps.
 */
const CANONICAL_STATUS = /^[A-Za-z-]+\([^()<]*\)\([^()<]*\) exp\([^()<]*\) expsecs\((-?\d+)\)$/;
const PING_TIME = /^[\d.]+$/;
export const CONTROL_CHARACTER = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;

/**
 * The volatile values of a reply that parseRegistrationsXml read with its flat-shape scanner (the
 * caller says so: then every `<` between `<registrations>` and `</registrations>` opens a tag and each
 * `<registration>` block holds leaf elements only). Null for a reply with control characters (the
 * parser strips them, so its text is not the bytes'), or without `<registrations>`.
 */
export function steadyReplyOf(bytes: Buffer): IndexedReply | null {
  // latin1: one character per byte, so offsets in the text are offsets in the bytes.
  const text = bytes.toString('latin1');
  if (CONTROL_CHARACTER.test(text)) return null;
  const open = text.indexOf('<registrations>');
  const close = text.lastIndexOf('</registrations>');
  if (open === -1 || close < open) return null;
  const ranges: number[] = [];
  const blocks: number[] = [];
  const firstRange: number[] = [];
  let position = open;
  for (;;) {
    const start = text.indexOf('<registration>', position);
    if (start === -1 || start > close) break;
    const end = text.indexOf('</registration>', start);
    if (end === -1 || end > close) return null;
    firstRange.push(ranges.length / 3);
    blockRanges(text, start, end, 0, ranges);
    blocks.push(start, end + REGISTRATION_CLOSE.length);
    position = end;
  }
  firstRange.push(ranges.length / 3);
  return { bytes, ranges: Int32Array.from(ranges), blocks: Int32Array.from(blocks), firstRange: Int32Array.from(firstRange) };
}

const REGISTRATION_CLOSE = '</registration>';

/**
 * A reply indexed block by block, so the next poll's reply can be compared with it one
 * `<registration>` block at a time (diffReply).
 */
export interface IndexedReply extends SteadyReply {
  /** Pairs: where each block's `<registration>` starts and its `</registration>` ends (exclusive), in bytes. */
  readonly blocks: Int32Array;
  /** Per block, the index (in triples of `ranges`) of its first volatile value; one more entry, the count. */
  readonly firstRange: Int32Array;
}

/**
 * Appends the volatile ranges of the block from `start` (its `<registration>`) to `end` (its
 * `</registration>`) of `text`, offset by `base` (where `text` starts in the bytes).
 */
export function blockRanges(text: string, start: number, end: number, base: number, ranges: { push(from: number, to: number, kind: number): unknown }): void {
  const seconds = leafText(text, start, end, 'status');
  const match = seconds ? CANONICAL_STATUS.exec(text.slice(seconds.from, seconds.to)) : null;
  // The digits end the status text, just before its closing `)`.
  if (seconds && match) ranges.push(base + seconds.to - 1 - match[1]!.length, base + seconds.to - 1, SECONDS);
  const ping = leafText(text, start, end, 'ping-time');
  if (ping && PING_TIME.test(text.slice(ping.from, ping.to))) ranges.push(base + ping.from, base + ping.to, PING_TIME_TEXT);
}

/** Where the text of the block's `<name>…</name>` leaf is; null without one. */
function leafText(text: string, blockStart: number, blockEnd: number, name: string): { from: number; to: number } | null {
  const open = text.indexOf(`<${name}>`, blockStart);
  if (open === -1 || open >= blockEnd) return null;
  const from = open + name.length + 2;
  const to = text.indexOf('<', from);
  return to !== -1 && to < blockEnd && text.startsWith(`</${name}>`, to) ? { from, to } : null;
}

/** Whether `next` is `last`'s reply with only its volatile values rewritten (each still of its kind's form). */
export function sameButVolatile(last: SteadyReply, next: Buffer): boolean {
  return matchButVolatile(last.bytes, last.ranges, 0, last.ranges.length / 3, 0, last.bytes.length, next, 0) === next.length;
}

/**
 * Numbers of a reply being indexed (its volatile values' triples, as IndexedReply.ranges; its blocks'
 * pairs) in a typed array that grows: a diff writes 30,000 numbers per 10,000 phones, and a callback
 * pushing each onto a JS array was most of a diff's CPU.
 */
export class Int32Sink {
  values: Int32Array;
  /** Numbers written. */
  length = 0;

  constructor(capacity: number) {
    this.values = new Int32Array(Math.max(48, capacity));
  }

  /** A volatile value: where it starts, ends (exclusive), and its kind. */
  push(from: number, to: number, kind: number): void {
    this.room(3);
    this.values[this.length] = from;
    this.values[this.length + 1] = to;
    this.values[this.length + 2] = kind;
    this.length += 3;
  }

  pushPair(first: number, second: number): void {
    this.room(2);
    this.values[this.length] = first;
    this.values[this.length + 1] = second;
    this.length += 2;
  }

  pushOne(value: number): void {
    this.room(1);
    this.values[this.length] = value;
    this.length += 1;
  }

  /** What was written (a view: the sink is not written again). */
  written(): Int32Array {
    return this.values.subarray(0, this.length);
  }

  private room(count: number): void {
    if (this.length + count <= this.values.length) return;
    const grown = new Int32Array(this.values.length * 2);
    grown.set(this.values);
    this.values = grown;
  }
}

/**
 * One sink kept for the module's life, so that its hidden class (V8 map) is: each diff's sinks are
 * garbage once it returns, and a full garbage collection between two polls then frees their map
 * (transitions hold maps weakly) and throws away the optimized code of every function that handled a
 * sink (matchButVolatile, blockRanges, the diff's loop), so the next poll ran the 7.8 MB compare
 * unoptimized: two to three times the CPU (issue #20, docs/benchmarks.md).
 */
export const SINK_SHAPE_KEEPER = new Int32Sink(0);

/**
 * Where `lastBytes[lastFrom, lastTo)` ends in `next` when `next` holds it from `at` but for its
 * volatile values (ranges `fromRange` to `toRange`, in triples, all inside the stretch); -1 otherwise.
 * `sink` is told where each volatile value is in `next` (diffReply indexes the new reply with it).
 */
export function matchButVolatile(
  lastBytes: Buffer,
  ranges: Int32Array,
  fromRange: number,
  toRange: number,
  lastFrom: number,
  lastTo: number,
  next: Buffer,
  at: number,
  sink?: Int32Sink,
): number {
  let lastPosition = lastFrom;
  let nextPosition = at;
  for (let range = fromRange; range < toRange; range += 1) {
    const from = ranges[3 * range]!;
    if (!sameStretch(lastBytes, lastPosition, from, next, nextPosition)) return -1;
    nextPosition += from - lastPosition;
    const kind = ranges[3 * range + 2]!;
    const valueEnd = volatileEnd(next, nextPosition, kind);
    if (valueEnd === -1) return -1;
    sink?.push(nextPosition, valueEnd, kind);
    nextPosition = valueEnd;
    lastPosition = ranges[3 * range + 1]!;
  }
  return sameStretch(lastBytes, lastPosition, lastTo, next, nextPosition) ? nextPosition + (lastTo - lastPosition) : -1;
}

/** Whether `next` holds `last[from, to)` at `at`, byte for byte. */
export function sameStretch(last: Buffer, from: number, to: number, next: Buffer, at: number): boolean {
  return at + (to - from) <= next.length && next.compare(last, from, to, at, at + (to - from)) === 0;
}

/**
 * The end of a volatile value starting at `from`: seconds `-?\d+`, a ping time `[\d.]+`; -1 when
 * there is none. The stretch that follows (`)`, `</ping-time>`) is compared next, so the value cannot
 * run into it.
 */
export function volatileEnd(next: Buffer, from: number, kind: number): number {
  let position = from;
  if (kind === SECONDS && next[position] === 0x2d) position += 1;
  const digitsFrom = position;
  while (position < next.length) {
    const code = next[position]!;
    if ((code < 0x30 || code > 0x39) && !(kind === PING_TIME_TEXT && code === 0x2e)) break;
    position += 1;
  }
  return position === digitsFrom ? -1 : position;
}
