import { Router } from 'express';
import { V1_ROUTES, v1OpenApiPaths } from './v1';

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
    },
    '/status': {
      get: {
        summary:
          'ictVoIP-compatible status (also /app/status/ and /app/status/index.php, GET or POST): version, uptime, active_calls, total_extensions, registered_extensions, servers; whitelisted peers or the admin token',
        parameters: [
          {
            name: 'format',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['json', 'whmcs', 'text'] },
            description: "whmcs/text: WHMCS's server-status text (<load>, <uptime>)",
          },
        ],
        responses: {
          '200': { description: 'status "success", or "error" when a server did not fully answer; X-RateLimit-Limit/-Remaining/-Reset' },
          '403': { description: 'not whitelisted, no admin token' },
          '429': { description: 'over STATUS_RATE_LIMIT for this caller; Retry-After' },
        },
      },
    },
    '/status/whmcs/': {
      get: {
        summary: "WHMCS's server-status text for a Server Status Address (also /status/whmcs/index.php): <load>, <uptime>, plus the call and extension counts",
        responses: { '200': { description: 'text/plain' }, '403': { description: 'not whitelisted, no admin token' }, '429': { description: 'rate limited' } },
      },
    },
    '/healthz': { get: { summary: 'process up', responses: { '200': { description: 'ok' } } } },
    '/readyz': {
      get: {
        summary: 'dependencies with status and latency',
        responses: {
          '200': { description: 'ready, or degraded (a registered FusionPBX server down, or no worker connected: webhooks are still stored)' },
          '503': { description: 'not ready' },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus text', responses: { '200': { description: 'metrics' } } } },
    '/admin/queues': { get: { summary: 'Bull Board', security: [{ adminToken: [] }], responses: { '200': { description: 'UI' }, '401': { description: 'token required' } } } },
    ...v1OpenApiPaths(V1_ROUTES),
  },
} as const;

export function openApiRouter(): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(OPENAPI_DOCUMENT);
  });
  return router;
}
