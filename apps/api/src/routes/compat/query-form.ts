import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { CompatError } from './envelope';

/** Fields that are credentials: never taken from a URL, which proxies and access logs keep. */
const CREDENTIAL_FIELDS = ['username', 'password'] as const;

/**
 * A GET (or HEAD) to one of ictVoIP's endpoints, as servers.rst sends them (`curl -u user:pass <url>`):
 * its query string is read as the form (what PHP's `$_REQUEST` holds), so a read such as
 * `export_cdr.php?date_start=…&date_end=…` answers as its POST would. Credentials come only as HTTP
 * Basic or Bearer: `username` / `password` in the URL are refused (without echoing them), not
 * ignored. An endpoint that changes FusionPBX is never changed by a GET: 405, before any password check.
 */
export function queryForm(writes: boolean): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (writes) {
      res.setHeader('Allow', 'POST');
      return next(new CompatError(405, 'METHOD_NOT_ALLOWED', 'Invalid Request: this endpoint changes FusionPBX; send it as a POST'));
    }
    const query = req.query as Record<string, unknown>;
    if (CREDENTIAL_FIELDS.some((field) => query[field] !== undefined)) {
      return next(new CompatError(400, 'CREDENTIALS_IN_URL', 'Invalid Request: username and password go in the POST body or as HTTP Basic (curl -u), never in the URL'));
    }
    req.body = { ...query };
    next();
  };
}
