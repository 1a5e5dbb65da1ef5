import { joiToJsonSchema, type JsonSchema } from './joi-json-schema';
import type { RouteSpec } from './route-spec';
import type { RouteDefinition } from './define';
import { REQUEST_ID_PATTERN, REQUEST_ID_RULE } from '../../request-id';

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const STANDARD_ERRORS: Record<string, string> = {
  '401': 'missing, unknown or revoked API key',
  '403': 'read-only key on a write route, or a tenant key on an admin route',
  '429': 'rate limit exceeded; Retry-After',
  '503': 'a dependency is down; Retry-After',
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

function responses(spec: RouteSpec): Record<string, JsonSchema> {
  const result: Record<string, JsonSchema> = {};
  for (const [status, description] of Object.entries({ ...STANDARD_ERRORS, ...spec.responses })) {
    const entry: JsonSchema = { description, headers: RATE_HEADERS };
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
