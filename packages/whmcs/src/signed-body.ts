/**
 * The WHMCS module's signed requests (events and page requests), as the bridge reads them: the
 * signature over exactly the bytes sent, the JSON they carry, what of it can be stored, and the
 * canonical form the inbox hashes. Typed errors only; the API maps them to its answers (401, 400).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { EventValidationError, type ValidationDetail } from './event';

/** How far (seconds) a signed timestamp may be from our clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;
export const SIGNATURE_HEADER = 'x-ictvoip-signature';
export const TIMESTAMP_HEADER = 'x-ictvoip-timestamp';

export type SignatureFailure = 'missing_timestamp' | 'bad_timestamp' | 'stale_timestamp' | 'future_timestamp' | 'missing_signature' | 'bad_signature';

export class SignatureError extends Error {
  readonly code = 'SIGNATURE_INVALID';
  constructor(
    readonly reason: SignatureFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SignatureError';
  }
}

function hmacHex(secret: string, timestamp: string, rawBody: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** `v1=<hex>` over `<timestamp>.<raw body>`, as the WHMCS module sends it. */
export function signBody(secret: string, timestamp: number | string, rawBody: Buffer | string): string {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  return `v1=${hmacHex(secret, String(timestamp), body)}`;
}

export interface VerifyInput {
  secrets: readonly string[];
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
  rawBody: Buffer;
  nowSeconds?: number;
  toleranceSeconds?: number;
}

function parseTimestamp(header: string | undefined, now: number, tolerance: number): string {
  if (header === undefined || header.trim() === '') throw new SignatureError('missing_timestamp', 'X-Ictvoip-Timestamp header is missing');
  const value = header.trim();
  if (!/^\d{1,12}$/.test(value)) throw new SignatureError('bad_timestamp', 'X-Ictvoip-Timestamp must be unix seconds');
  const skew = Number(value) - now;
  if (skew < -tolerance) throw new SignatureError('stale_timestamp', `X-Ictvoip-Timestamp is more than ${tolerance} s old`);
  if (skew > tolerance) throw new SignatureError('future_timestamp', `X-Ictvoip-Timestamp is more than ${tolerance} s in the future`);
  return value;
}

function candidateDigests(header: string | undefined): Buffer[] {
  if (header === undefined || header.trim() === '') throw new SignatureError('missing_signature', 'X-Ictvoip-Signature header is missing');
  return header
    .trim()
    .split(/\s+/)
    .filter((part) => part.startsWith('v1='))
    .map((part) => part.slice(3))
    .filter((hex) => /^[0-9a-f]{64}$/.test(hex))
    .map((hex) => Buffer.from(hex, 'hex'));
}

/**
 * Throws SignatureError unless one of the `v1=` values is the HMAC of `<timestamp>.<raw body>` under one
 * of the secrets (several secrets and several values allow rotation). Every comparison is constant-time.
 */
export function verifySignature(input: VerifyInput): void {
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  const timestamp = parseTimestamp(input.timestampHeader, now, input.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS);
  const candidates = candidateDigests(input.signatureHeader);
  let matched = false;
  for (const secret of input.secrets) {
    const expected = Buffer.from(hmacHex(secret, timestamp, input.rawBody), 'hex');
    for (const candidate of candidates) {
      // No early exit: every pair is compared so timing does not reveal which one matched.
      if (timingSafeEqual(expected, candidate)) matched = true;
    }
  }
  if (!matched) throw new SignatureError('bad_signature', 'X-Ictvoip-Signature does not match the body');
}

/** A signed request as any HTTP server reads it: its headers (Express's `req.get`) and its raw body (the bytes as sent; none for a GET). */
export interface SignedRequest {
  get(header: string): string | undefined;
  body?: unknown;
}

/** Checks the signature (SignatureError otherwise) over exactly the bytes sent, and returns them. */
export function verifySignedRequest(secrets: readonly string[], req: SignedRequest): Buffer {
  const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  verifySignature({ secrets, timestampHeader: req.get(TIMESTAMP_HEADER), signatureHeader: req.get(SIGNATURE_HEADER), rawBody });
  return rawBody;
}

/** A signed body that is not JSON (the API answers 400 INVALID_JSON). */
export class BodyNotJsonError extends Error {
  readonly code = 'INVALID_JSON';
  constructor() {
    super('request body is not valid JSON');
    this.name = 'BodyNotJsonError';
  }
}

/** The body of a signed request (raw-body middleware in front), verified, then parsed. */
export function signedJson(secrets: readonly string[], req: SignedRequest): unknown {
  const rawBody = verifySignedRequest(secrets, req);
  try {
    return JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new BodyNotJsonError();
  }
}

/** Deeper than any WHMCS payload; deep enough bodies would overflow recursive code and PostgreSQL's jsonb parser. */
export const MAX_JSON_DEPTH = 64;

// PostgreSQL jsonb cannot hold U+0000, nor a lone UTF-16 surrogate (JSON.stringify writes it as \udXXX).
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function problemIn(text: string): string | null {
  const match = UNSTORABLE.exec(text);
  if (!match) return null;
  return match[0] === '\u0000' ? 'contains a NUL character (\\u0000)' : 'contains an unpaired UTF-16 surrogate';
}

interface Pending {
  value: unknown;
  path: string;
  depth: number;
}

/**
 * Refuses (EventValidationError, at most ten details) a parsed body that parses but cannot be stored
 * or processed safely: nesting deeper than MAX_JSON_DEPTH, or NUL / unpaired surrogates in a key or
 * string. Iterative on purpose, so the check itself cannot overflow the stack. Runs on every webhook:
 * only objects, arrays and strings with a problem are stacked (a path is built for those alone), in
 * the order the first version visited every value, so the details and their order are the same.
 */
export function assertStorableJson(body: unknown): void {
  const details: ValidationDetail[] = [];
  const stack: Pending[] = [];
  if (isStacked(body)) stack.push({ value: body, path: '', depth: 0 });
  while (stack.length > 0 && details.length < 10) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      details.push({ path: path || '(body)', message: problemIn(value)! });
      continue;
    }
    if (depth >= MAX_JSON_DEPTH) {
      details.push({ path: path || '(body)', message: `nests deeper than ${MAX_JSON_DEPTH} levels` });
      continue;
    }
    const record = value as Record<string, unknown>;
    for (const key in record) {
      if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
      const child = record[key];
      const keyProblem = problemIn(key);
      if (keyProblem) {
        const childPath = path ? `${path}.?` : '?';
        details.push({ path: childPath, message: `a key ${keyProblem}` });
        if (isStacked(child)) stack.push({ value: child, path: childPath, depth: depth + 1 });
        continue;
      }
      if (isStacked(child)) stack.push({ value: child, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
  if (details.length > 0) throw new EventValidationError(details);
}

/** What assertStorableJson must look at again: an object or array, or a string it will refuse. */
function isStacked(value: unknown): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  return value !== null && typeof value === 'object';
}

// An array index (below 2 ** 32 - 1): V8 enumerates such keys first, in numeric order, whatever the insertion order.
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;
const isArrayIndex = (key: string): boolean => ARRAY_INDEX.test(key) && Number(key) < 4294967295;

/** A value the fast path leaves to canonicalJsonByParts (not plain JSON, or key order V8 cannot keep). */
const BY_PARTS = Symbol('by parts');

/**
 * `value` itself when every object in it already has its keys in sorted order (JSON.parse keeps the
 * sender's order), else a copy whose objects have them inserted sorted: JSON.stringify of the result
 * is then the canonical text, built natively in one string instead of one string per member.
 * BY_PARTS for anything but plain JSON values, for a `__proto__` key, and for an unsorted object with an
 * array-index key.
 */
function sortedView(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value !== 'object') return BY_PARTS;
  if (Array.isArray(value)) return sortedArray(value);
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return BY_PARTS;
  const record = value as Record<string, unknown>;
  if (typeof record.toJSON === 'function') return BY_PARTS;
  let previous: string | null = null;
  for (const key in record) {
    // `__proto__` would set a copy's prototype, not make a member (a null-prototype copy is a slow dictionary).
    if (key === '__proto__' || !Object.prototype.hasOwnProperty.call(record, key)) return BY_PARTS;
    if (previous !== null && !(previous < key)) return unsortedRecord(record);
    previous = key;
  }
  return sortedRecord(record);
}

function sortedArray(value: unknown[]): unknown {
  let copy: unknown[] | null = null;
  for (let i = 0; i < value.length; i += 1) {
    const item = value[i];
    const view = sortedView(item);
    if (view === BY_PARTS) return BY_PARTS;
    if (copy === null && view !== item) copy = value.slice(0, i);
    if (copy !== null) copy.push(view);
  }
  return copy ?? value;
}

/** Keys already in order: the object itself, or a copy (same order) when a member changed. */
function sortedRecord(record: Record<string, unknown>): unknown {
  let copy: Record<string, unknown> | null = null;
  for (const key in record) {
    const child = record[key];
    const view = sortedView(child);
    if (view === BY_PARTS) return BY_PARTS;
    if (copy === null && view !== child) {
      copy = {};
      for (const earlier in record) {
        if (earlier === key) break;
        copy[earlier] = record[earlier];
      }
    }
    if (copy !== null) copy[key] = view;
  }
  return copy ?? record;
}

/**
 * In place, by UTF-16 code units (Array#sort's default order, `<` on strings). Small arrays by
 * insertion: Array#sort allocates work arrays, about 0.8 KB per object of a WHMCS event.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 32) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i += 1) {
    const key = keys[i];
    let j = i - 1;
    for (; j >= 0 && keys[j] > key; j -= 1) keys[j + 1] = keys[j];
    keys[j + 1] = key;
  }
}

function unsortedRecord(record: Record<string, unknown>): unknown {
  const keys = Object.keys(record);
  // sortedView stops at the first key out of order: a `__proto__` after it is first seen here.
  for (const key of keys) if (isArrayIndex(key) || key === '__proto__') return BY_PARTS;
  sortKeys(keys);
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    const view = sortedView(record[key]);
    if (view === BY_PARTS) return BY_PARTS;
    copy[key] = view;
  }
  return copy;
}

/**
 * JSON with object keys sorted, so a re-serialised body hashes the same as the original. Stored
 * body hashes depend on the exact text: the output must never change (test: canonical-json.test.ts).
 * Runs on every webhook: plain JSON is written by one JSON.stringify of a sorted view (about a fifth
 * of the garbage of writing it member by member); anything else by canonicalJsonByParts.
 */
export function canonicalJson(value: unknown): string {
  const view = sortedView(value);
  return view === BY_PARTS ? canonicalJsonByParts(value) : (JSON.stringify(view) as string);
}

/** The canonical text member by member (the first fast implementation; the reference for any value). */
export function canonicalJsonByParts(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) out += (i > 0 ? ',' : '') + canonicalJsonByParts(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units, the same order as `<` on strings.
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const child = record[key];
    if (child === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJsonByParts(child)}`;
    first = false;
  }
  return `${out}}`;
}
