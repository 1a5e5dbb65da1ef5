import { Router } from 'express';
import { V1_ROUTES, v1OpenApiPaths } from './v1';
import { ADMIN_PATHS_DOCUMENT, compatPathsDocument, STATUS_PATHS_DOCUMENT, WHMCS_PAGES_DOCUMENT } from './openapi-extra';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
};

/** The machine-readable description of the routes this process serves. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'ictVoIP bridge', version: '0.1.0', description: 'WHMCS ⇄ FusionPBX bridge' },
  components: {
    schemas: { Error: errorSchema },
    securitySchemes: {
      webhookSignature: { type: 'apiKey', in: 'header', name: 'X-Ictvoip-Signature' },
      adminToken: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'http', scheme: 'bearer', description: 'ivk_<prefix>_<secret> API key, or ADMIN_TOKEN' },
    },
  },
  paths: {
    '/webhooks/whmcs': {
      post: {
        summary: 'A WHMCS module event, signed with HMAC-SHA256 over "<timestamp>.<raw body>"',
        security: [{ webhookSignature: [] }],
        parameters: [
          { name: 'X-Ictvoip-Timestamp', in: 'header', required: true, schema: { type: 'integer' } },
          { name: 'wait', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 25 } },
          {
            name: 'dryRun',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['1', 'true'] },
            description:
              'preview: answers result dry_run with the FusionPBX rows (secrets masked) and event-socket steps (freeswitch) and commands (eslCommands); stores and changes nothing',
          },
        ],
        responses: {
          '200': { description: 'finished: result success or error (with dryRun: result dry_run, rows, freeswitch, eslCommands)' },
          '202': { description: 'accepted and stored; pending' },
          '400': { description: 'validation failed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          '401': { description: 'bad signature or timestamp' },
          '409': { description: 'same eventId, different body' },
          '413': { description: 'body over 256 KiB' },
          '415': { description: 'not application/json' },
          '503': { description: 'a dependency is down; Retry-After' },
        },
      },
    },
    '/webhooks/whmcs/events/{eventId}': {
      get: {
        summary: 'State of an event (signed like the webhook, empty body)',
        responses: { '200': { description: 'finished' }, '202': { description: 'pending' }, '404': { description: 'unknown' } },
      },
    },
    '/app/xml_cdr/chkcon.php': {
      get: { summary: 'FusionPBX connectivity check for whitelisted peers', responses: { '200': { description: 'granted' }, '403': { description: 'denied' } } },
      post: { summary: 'the same check as a POST (as ictVoIP scripts send it)', responses: { '200': { description: 'granted' }, '403': { description: 'denied' } } },
    },
    ...STATUS_PATHS_DOCUMENT,
    '/healthz': { get: { summary: 'process up', responses: { '200': { description: 'ok' } } } },
    '/readyz': {
      get: {
        summary: 'dependencies with status and latency',
        responses: {
          '200': {
            description:
              'ready, or degraded (a registered FusionPBX server down, FreeSWITCH work still owed — `freeswitch: {behind, globalApplies, oldestSince}` —, or no worker connected: webhooks are still stored)',
          },
          '503': { description: 'not ready' },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus text', responses: { '200': { description: 'metrics' } } } },
    '/admin/queues': { get: { summary: 'Bull Board', security: [{ adminToken: [] }], responses: { '200': { description: 'UI' }, '401': { description: 'token required' } } } },
    ...ADMIN_PATHS_DOCUMENT,
    ...WHMCS_PAGES_DOCUMENT,
    ...v1OpenApiPaths(V1_ROUTES),
  },
} as const;

/** With COMPAT_ICTVOIP=1 the document also describes ictVoIP's endpoints (served only then). */
export function openApiDocument(compatIctvoip: boolean) {
  return compatIctvoip ? { ...OPENAPI_DOCUMENT, paths: { ...OPENAPI_DOCUMENT.paths, ...compatPathsDocument() } } : OPENAPI_DOCUMENT;
}

export function openApiRouter(compatIctvoip = false): Router {
  const router = Router();
  const document = openApiDocument(compatIctvoip);
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  return router;
}
