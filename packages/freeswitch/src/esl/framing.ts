/**
 * mod_event_socket framing: a block of "Key: Value" lines ended by an empty line; when the block has
 * Content-Length, exactly that many bytes of body follow. Works on bytes so multi-byte bodies are
 * measured the way FreeSWITCH measures them.
 */

export interface EslFrame {
  headers: Record<string, string>;
  /** The body as UTF-8 text, decoded on first read (a caller comparing a multi-megabyte reply as bytes never pays for it). */
  readonly body: string;
  /** The body's bytes as they came. */
  readonly bytes: Buffer;
}

function frameOf(headers: Record<string, string>, bytes: Buffer): EslFrame {
  let body: string | undefined;
  return {
    headers,
    bytes,
    get body(): string {
      body ??= bytes.toString('utf8');
      return body;
    },
  };
}

export function parseHeaderBlock(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Decodes a text/event-plain body: URL-encoded event headers, then an optional inner body. */
export function parseEventPlain(body: string): EslFrame {
  const end = body.indexOf('\n\n');
  const headText = end === -1 ? body : body.slice(0, end);
  const raw = parseHeaderBlock(headText);
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) headers[key] = safeDecode(value);
  const rest = Buffer.from(end === -1 ? '' : body.slice(end + 2));
  const length = Number(headers['Content-Length'] ?? NaN);
  return frameOf(headers, Number.isFinite(length) ? rest.subarray(0, length) : rest);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const NEWLINE = 0x0a;

const EMPTY = Buffer.alloc(0);

/** A frame whose headers are read and whose body is still arriving. */
interface PartialBody {
  headers: Record<string, string>;
  target: Buffer;
  filled: number;
  length: number;
}

/**
 * Incremental parser: push bytes, get whole frames back. A body that spans chunks (a megabyte reply
 * comes in hundreds) is copied once into storage of its size as they arrive, never re-joined; a caller
 * done with such a body can offer its storage back for the next one.
 */
export class EslFrameParser {
  /** Bytes not yet framed (headers still incomplete, or whole frames not yet taken). */
  private buffer: Buffer = EMPTY;
  private body: PartialBody | null = null;
  private spare: Buffer | null = null;
  /** Storage this parser allocated (only that is taken back whole: any other buffer may share its memory). */
  private readonly own = new WeakSet<ArrayBufferLike>();

  /**
   * An earlier frame's bytes the caller no longer reads: the next body that spans chunks is read into
   * their storage when it fits. Fresh memory of a multi-megabyte body costs its page faults on every
   * read (tens of ms, more than comparing the body); reused memory does not.
   */
  offer(bytes: Buffer): void {
    if (this.own.has(bytes.buffer)) this.spare = Buffer.from(bytes.buffer);
  }

  push(chunk: Buffer): EslFrame[] {
    const frames: EslFrame[] = [];
    let rest = chunk;
    if (this.body) {
      const body = this.body;
      const take = Math.min(rest.length, body.length - body.filled);
      rest.copy(body.target, body.filled, 0, take);
      body.filled += take;
      if (body.filled < body.length) return frames;
      this.body = null;
      frames.push(frameOf(body.headers, body.target.subarray(0, body.length)));
      rest = rest.subarray(take);
    }
    this.buffer = this.buffer.length === 0 ? rest : Buffer.concat([this.buffer, rest]);
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  private next(): EslFrame | null {
    while (this.buffer.length > 0 && this.buffer[0] === NEWLINE) this.buffer = this.buffer.subarray(1);
    const end = this.buffer.indexOf('\n\n');
    if (end === -1) return null;
    const headers = parseHeaderBlock(this.buffer.subarray(0, end).toString('utf8'));
    const length = headers['Content-Length'] === undefined ? 0 : Number(headers['Content-Length']);
    if (!Number.isInteger(length) || length < 0) throw new Error(`bad Content-Length ${headers['Content-Length']}`);
    const bodyStart = end + 2;
    if (this.buffer.length < bodyStart + length) {
      const target = this.storage(length);
      const filled = this.buffer.copy(target, 0, bodyStart);
      this.body = { headers, target, filled, length };
      this.buffer = EMPTY;
      return null;
    }
    const bytes = this.buffer.subarray(bodyStart, bodyStart + length);
    this.buffer = this.buffer.subarray(bodyStart + length);
    return frameOf(headers, bytes);
  }

  /** The offered storage when the body fits, else new storage with an eighth to spare (the next reply of a poll is rarely exactly as long). */
  private storage(length: number): Buffer {
    const spare = this.spare;
    this.spare = null;
    if (spare && spare.length >= length) return spare;
    const made = Buffer.allocUnsafeSlow(length + (length >> 3));
    this.own.add(made.buffer);
    return made;
  }
}
