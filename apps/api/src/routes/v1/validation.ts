import type { Request } from 'express';
import type Joi from 'joi';
import { type ErrorDetail, HttpError } from '../../errors';
import { REQUEST_ID_PATTERN, REQUEST_ID_RULE } from '../../request-id';
import type { RouteSpec } from './route-spec';

export interface ValidatedRequest {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
}

// joi can echo the offending value ("with value ..."); a value may be a secret (gateway password, an API key).
// Greedy and across line breaks: a value with a newline, or containing " fails", must not survive.
const cleanMessage = (message: string) => message.replace(/\s*with value\s+[\s\S]*\s+(fails to match|matches the inverted)/, ' $1').replace(/"/g, "'");

const schemaKeys = new WeakMap<Joi.ObjectSchema, string[]>();

/** The keys an object schema names (described once per schema). */
function keysOf(schema: Joi.ObjectSchema): string[] {
  let keys = schemaKeys.get(schema);
  if (!keys) schemaKeys.set(schema, (keys = Object.keys((schema.describe() as { keys?: Record<string, unknown> }).keys ?? {})));
  return keys;
}

function check(part: 'params' | 'query' | 'body', schema: Joi.ObjectSchema | undefined, value: unknown, details: ErrorDetail[]): Record<string, unknown> {
  if (!schema) return {};
  // A query parameter given twice arrives as an array (no /v1 query parameter is one): say so, not what joi makes of an array.
  const known = part === 'query' ? keysOf(schema) : [];
  const repeated = new Set(known.filter((key) => Array.isArray((value as Record<string, unknown> | undefined)?.[key])));
  for (const key of repeated) details.push({ path: `${part}.${key}`, message: 'must be given once' });
  const result = schema.validate(value ?? {}, { abortEarly: false, convert: true, errors: { wrap: { label: "'" } } });
  for (const detail of result.error?.details ?? []) {
    if (repeated.has(String(detail.path[0]))) continue;
    details.push({ path: [part, ...detail.path].join('.'), message: cleanMessage(detail.message) });
  }
  return (result.value ?? {}) as Record<string, unknown>;
}

/** Validates params, query and body together, so one 400 lists every failing path. */
export function validateRequest(spec: RouteSpec, req: Request): ValidatedRequest {
  const details: ErrorDetail[] = [];
  if (spec.body && req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
    throw new HttpError(400, 'VALIDATION_FAILED', 'request body must be a JSON object', [{ path: 'body', message: 'must be a JSON object' }]);
  }
  // A write's X-Request-Id is its idempotency key: one the bridge would replace must not pass silently.
  const requestId = req.get('x-request-id');
  if (spec.keyedByRequestId && requestId !== undefined && !REQUEST_ID_PATTERN.test(requestId)) {
    details.push({ path: 'headers.x-request-id', message: `must be ${REQUEST_ID_RULE}: the key that makes a repeat of this write the same write` });
  }
  const validated = {
    params: check('params', spec.params, req.params, details),
    query: check('query', spec.query, req.query, details),
    body: check('body', spec.body, spec.body ? (req.body ?? {}) : {}, details),
  };
  if (details.length > 0) throw new HttpError(400, 'VALIDATION_FAILED', `request is invalid (${details.length} problem${details.length === 1 ? '' : 's'})`, details);
  return validated;
}
