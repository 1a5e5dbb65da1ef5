import { createHmac, timingSafeEqual } from 'node:crypto';

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
