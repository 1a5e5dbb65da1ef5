import express, { type Request, type RequestHandler } from 'express';
import type Joi from 'joi';
import { signedJson } from '@ictvoip/whmcs';
import type { ApiDeps } from '../../deps';
import { HttpError } from '../../errors';

export const PAGE_BODY_LIMIT = '16kb';

/** The raw body, kept as bytes so the signature is checked over exactly what was sent. */
export const rawPageBody: RequestHandler[] = [
  (req, _res, next) => next(req.is('application/json') ? undefined : new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json')),
  express.raw({ type: () => true, limit: PAGE_BODY_LIMIT }),
];

/**
 * The WHMCS module's page requests are signed exactly like its events (the webhook contract: `v1=` HMAC of
 * `<timestamp>.<body>` with WEBHOOK_SECRET, 300 s clock window), so the module needs no other key and
 * nothing a browser could hold opens these routes.
 */
export function signedBody<T>(deps: ApiDeps, req: Request, schema: Joi.ObjectSchema<T>): T {
  const parsed = signedJson(deps.config.webhook.secrets, req);
  const { value, error } = schema.validate(parsed, { abortEarly: false, stripUnknown: true, convert: true });
  if (error) {
    const details = error.details.map((detail) => ({ path: detail.path.join('.'), message: detail.message }));
    throw new HttpError(400, 'VALIDATION_FAILED', `request is invalid: ${details.map((detail) => detail.path).join(', ')}`, details);
  }
  return value as T;
}
