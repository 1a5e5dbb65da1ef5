import { joiToJsonSchema, type JsonSchema } from './joi-json-schema';
import type { RouteSpec } from './route-spec';
import type { RouteDefinition } from './define';
import { REQUEST_ID_PATTERN, REQUEST_ID_RULE } from '../../request-id';

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const STANDARD_ERRORS: Record<string, string> = {
  '401': 'missing, unknown or revoked API key',
  '403': 'read-only key on a write route, or a tenant key on an admin route',
  '429': 'rate limit exceeded; Retry-After',
  '503': 'a dependency is down, or a lock is busy (TENANT_BUSY, BILLING_BUSY, FREESWITCH_BUSY, CREDIT_CHECK_BUSY, FUSIONPBX_SERVER_BUSY); Retry-After',
};
const RATE_HEADERS = {
  'X-RateLimit-Limit': { schema: { type: 'integer' }, description: 'requests allowed per window for this key and bucket' },
  'X-RateLimit-Remaining': { schema: { type: 'integer' } },
  'X-RateLimit-Reset': { schema: { type: 'integer' }, description: 'unix seconds when the window ends' },
};

function parameters(spec: RouteSpec): JsonSchema[] {
  const result: JsonSchema[] = [];
  for (const [where, schema] of [
    ['path', spec.params],
    ['query', spec.query],
  ] as const) {
    if (!schema) continue;
    const described = joiToJsonSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(described.properties ?? {})) {
      result.push({ name, in: where, required: where === 'path' || (described.required ?? []).includes(name), schema: property });
    }
  }
  if (spec.keyedByRequestId) {
    result.push({
      name: 'X-Request-Id',
      in: 'header',
      required: false,
      schema: { type: 'string', pattern: REQUEST_ID_PATTERN.source },
      description: `the write's idempotency key: a repeat with the same id, method, resource and body is the same write and gets the first answer; ${REQUEST_ID_RULE}, else 400`,
    });
  }
  return result;
}

/** Refused before the route counts the request (README, REST API): no rate-limit headers. */
const UNCOUNTED = new Set(['401', '413', '415']);

/** What every route of its kind can answer, whatever its own list says (the route's own description wins, a 409 is joined). */
function derivedResponses(spec: RouteSpec): Record<string, string> {
  const derived: Record<string, string> = {};
  if (spec.params || spec.query || spec.body || spec.keyedByRequestId)
    derived['400'] = 'validation failed: error.details name each failing field (params.…, query.…, body.…, headers.…)';
  if (spec.path.includes('{')) derived['404'] = 'unknown tenant or resource, or another tenant than the key’s (the same answer)';
  if (spec.needsDomain) derived['409'] = 'TENANT_NOT_PROVISIONED: the tenant has no FusionPBX domain (not created yet, or purged)';
  if (spec.body) {
    derived['413'] = 'body over 64 KiB';
    derived['415'] = 'body not application/json';
  }
  return derived;
}

function responses(spec: RouteSpec): Record<string, JsonSchema> {
  const result: Record<string, JsonSchema> = {};
  const listed: Record<string, string> = { ...STANDARD_ERRORS, ...derivedResponses(spec) };
  for (const [status, description] of Object.entries(spec.responses)) {
    listed[status] = status === '409' && listed['409'] ? `${description}; or ${listed['409']}` : description;
  }
  for (const [status, description] of Object.entries(listed).sort(([a], [b]) => a.localeCompare(b))) {
    const entry: JsonSchema = UNCOUNTED.has(status) ? { description } : { description, headers: RATE_HEADERS };
    if (/^[45]/.test(status)) entry.content = { 'application/json': { schema: ERROR_REF } };
    else if (status === '200' && spec.produces) {
      entry.content = Object.fromEntries([['application/json', {}], ...spec.produces.map((type) => [type, { schema: { type: 'string' } }])]);
    }
    result[status] = entry;
  }
  return result;
}

/** OpenAPI 3.1 path items for every /v1 route, generated from the joi schemas that validate them. */
export function v1OpenApiPaths(routes: readonly RouteDefinition[]): Record<string, Record<string, JsonSchema>> {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const { spec } of routes) {
    const operation: JsonSchema = {
      summary: spec.summary,
      operationId: `${spec.method}${spec.path
        .replace(/[{}]/g, '')
        .replace(/\/([a-z])/g, (_, c: string) => c.toUpperCase())
        .replace(/[^A-Za-z0-9]/g, '')}`,
      security: [{ apiKey: [] }],
      parameters: parameters(spec),
      responses: responses(spec),
    };
    if (spec.adminOnly) operation.description = 'Admin only: ADMIN_TOKEN or an admin-scoped key.';
    if (spec.body) operation.requestBody = { required: true, content: { 'application/json': { schema: joiToJsonSchema(spec.body) } } };
    paths[spec.path] = { ...(paths[spec.path] ?? {}), [spec.method]: operation };
  }
  return paths;
}
