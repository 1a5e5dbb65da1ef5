import type { Request } from 'express';
import { SignatureError, verifySignature } from '@ictvoip/whmcs';
import type { ApiDeps } from './deps';
import { HttpError } from './errors';

/** Checks the WHMCS module's signature (`v1=` HMAC of `<timestamp>.<body>`) over exactly the bytes sent; 401 otherwise. */
export function verifySignedRequest(deps: ApiDeps, req: Request, rawBody: Buffer): void {
  try {
    verifySignature({ secrets: deps.config.webhook.secrets, timestampHeader: req.get('x-ictvoip-timestamp'), signatureHeader: req.get('x-ictvoip-signature'), rawBody });
  } catch (error) {
    if (error instanceof SignatureError) throw new HttpError(401, 'UNAUTHORIZED', error.message);
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
