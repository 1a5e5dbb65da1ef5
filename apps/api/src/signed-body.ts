import type { Request } from 'express';
import { SignatureError, verifySignature } from '@ictvoip/whmcs';
import type { ApiDeps } from './deps';
import { HttpError, SignatureRefusedError, type ErrorDetail } from './errors';

/** Checks the WHMCS module's signature (`v1=` HMAC of `<timestamp>.<body>`) over exactly the bytes sent; 401 otherwise. */
export function verifySignedRequest(deps: ApiDeps, req: Request, rawBody: Buffer): void {
  try {
    verifySignature({ secrets: deps.config.webhook.secrets, timestampHeader: req.get('x-ictvoip-timestamp'), signatureHeader: req.get('x-ictvoip-signature'), rawBody });
  } catch (error) {
    if (error instanceof SignatureError) throw new SignatureRefusedError(error.message);
    throw error;
  }
}

export function parseJsonBody(rawBody: Buffer): unknown {
  try {
    return JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'request body is not valid JSON');
  }
}

/** The body of a signed request (raw-body middleware in front), verified, then parsed. */
export function signedJson(deps: ApiDeps, req: Request): unknown {
  const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  verifySignedRequest(deps, req, rawBody);
  return parseJsonBody(rawBody);
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

/**
 * Refuses (400) a parsed JSON body that parses but cannot be stored or processed safely: nesting
 * deeper than MAX_JSON_DEPTH, or NUL / unpaired surrogates in a key or string. Iterative on purpose,
 * so the check itself cannot overflow the stack.
 */
export function assertStorableJson(body: unknown): void {
  const details: ErrorDetail[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (stack.length > 0 && details.length < 10) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = problemIn(value);
      if (problem) details.push({ path: path || '(body)', message: problem });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      details.push({ path: path || '(body)', message: `nests deeper than ${MAX_JSON_DEPTH} levels` });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      const keyProblem = problemIn(key);
      const childPath = path ? `${path}.${keyProblem ? '?' : key}` : keyProblem ? '?' : key;
      if (keyProblem) details.push({ path: childPath, message: `a key ${keyProblem}` });
      stack.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  if (details.length > 0) throw new HttpError(400, 'VALIDATION_FAILED', 'webhook event is invalid', details);
}

/**
 * JSON with object keys sorted, so a re-serialised body hashes the same as the original. Stored
 * body hashes depend on the exact text: the output must never change (test: canonical-json.test.ts).
 * Loops and string appends rather than entries/filter/sort/map: this runs on every webhook.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
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
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(child)}`;
    first = false;
  }
  return `${out}}`;
}
