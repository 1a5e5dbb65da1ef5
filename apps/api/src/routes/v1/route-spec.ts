import type Joi from 'joi';
import type { RateLimitBucket } from '../../api-keys/rate-limiter';

/**
 * One /v1 route: the joi schemas that validate it are also what /openapi.json describes, so the
 * document cannot drift from the validation.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI form, e.g. `/v1/tenants/{tenant}/extensions/{extension}`. */
  path: string;
  summary: string;
  params?: Joi.ObjectSchema;
  query?: Joi.ObjectSchema;
  body?: Joi.ObjectSchema;
  /** Status → description. */
  responses: Record<string, string>;
  /** Admin principals only (ADMIN_TOKEN or an admin key). */
  adminOnly?: boolean;
  bucket?: RateLimitBucket;
  /** A tenant write (a job): its X-Request-Id is its idempotency key, so one the bridge cannot keep is refused (400). */
  keyedByRequestId?: boolean;
  /** Reads or writes the tenant's FusionPBX domain: 409 TENANT_NOT_PROVISIONED while it has none. */
  needsDomain?: boolean;
  /** Extra response media types (CDR export). */
  produces?: string[];
}

/** Express path for an OpenAPI path: `{tenant}` → `:tenant`. */
export const expressPath = (path: string) => path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');

/** The names of a path's URL parameters: `/v1/tenants/{tenant}/extensions/{extension}` → tenant, extension. */
export const pathParams = (path: string): string[] => [...path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((match) => match[1]!);
