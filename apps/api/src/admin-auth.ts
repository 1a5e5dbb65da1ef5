import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from './errors';

function sameSecret(given: string, expected: string): boolean {
  // Hash first so lengths match and the comparison time does not depend on the token.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function presentedToken(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const [scheme, value] = authorization.split(' ', 2);
  if (!value) return null;
  if (scheme.toLowerCase() === 'bearer') return value.trim();
  if (scheme.toLowerCase() !== 'basic') return null;
  // Browsers cannot send a bearer header to Bull Board's UI: basic auth, any user name, token as password.
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

/** Whether the Authorization header carries the admin token (Bearer, or basic auth's password). */
export function isAdminToken(authorization: string | undefined, adminToken: string): boolean {
  const token = presentedToken(authorization);
  return token !== null && adminToken !== '' && sameSecret(token, adminToken);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A browser re-sends cached basic-auth credentials (Bull Board's login) with any request, even one a
 * page of another site makes it send: a change asked that way (its Sec-Fetch-Site is `cross-site`) is
 * refused. Bearer tokens are never sent by a browser on its own; curl and scripts send no Sec-Fetch-Site.
 */
function crossSiteChange(req: { method: string; get(name: string): string | undefined }): boolean {
  if (SAFE_METHODS.has(req.method)) return false;
  if (!/^basic /i.test(req.get('authorization') ?? '')) return false;
  return req.get('sec-fetch-site') === 'cross-site';
}

export function requireAdminToken(adminToken: string, realm = 'ictvoip admin'): RequestHandler {
  return (req, res, next) => {
    const token = presentedToken(req.get('authorization'));
    if (token !== null && sameSecret(token, adminToken)) {
      if (crossSiteChange(req)) return next(new HttpError(403, 'CROSS_SITE_REQUEST', 'a change to the admin routes cannot come from another site'));
      return next();
    }
    res.setHeader('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`);
    next(new HttpError(401, 'UNAUTHORIZED', 'admin token required (Bearer, or basic auth with the token as password)'));
  };
}
