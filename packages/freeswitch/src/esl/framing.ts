/**
 * mod_event_socket framing: a block of "Key: Value" lines ended by an empty line; when the block has
 * Content-Length, exactly that many bytes of body follow. Works on bytes so multi-byte bodies are
 * measured the way FreeSWITCH measures them.
 */

export interface EslFrame {
  headers: Record<string, string>;
  body: string;
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
  const rest = end === -1 ? '' : body.slice(end + 2);
  const length = Number(headers['Content-Length'] ?? NaN);
  return { headers, body: Number.isFinite(length) ? Buffer.from(rest).subarray(0, length).toString('utf8') : rest };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const NEWLINE = 0x0a;

/** Incremental parser: push bytes, get whole frames back. */
export class EslFrameParser {
  private buffer: Buffer = Buffer.alloc(0);
  /** Chunks that arrived while a body was incomplete, joined once it is whole (not on every chunk: a megabyte reply comes in hundreds). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the frame at the head of the buffer needs in all (headers + body); 0 while its headers are incomplete. */
  private needed = 0;

  push(chunk: Buffer): EslFrame[] {
    if (this.needed > 0 && this.buffer.length + this.pendingBytes + chunk.length < this.needed) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      return [];
    }
    this.buffer = this.buffer.length === 0 && this.pending.length === 0 ? chunk : Buffer.concat([this.buffer, ...this.pending, chunk]);
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = 0;
    const frames: EslFrame[] = [];
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
      this.needed = bodyStart + length;
      return null;
    }
    const body = this.buffer.subarray(bodyStart, bodyStart + length).toString('utf8');
    this.buffer = this.buffer.subarray(bodyStart + length);
    return { headers, body };
  }
}
