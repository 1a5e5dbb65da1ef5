import { COMPAT_ROUTES } from './compat';

/**
 * The routes outside /v1 that /openapi.json describes besides the webhook and the health routes:
 * the status page under each of its paths, the admin routes, the WHMCS module's pages, and (with
 * COMPAT_ICTVOIP=1 only, as only then are they served) ictVoIP's endpoints.
 */
type Operation = Record<string, unknown>;
type PathItem = Record<string, Operation>;

const ERROR = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const error = (description: string) => ({ description, ...ERROR });
const ADMIN = { security: [{ adminToken: [] }] };
const SIGNED = { security: [{ webhookSignature: [] }] };

const STATUS_FORMAT = {
  name: 'format',
  in: 'query',
  required: false,
  schema: { type: 'string', enum: ['json', 'whmcs', 'text'] },
  description: "whmcs/text: WHMCS's server-status text (<load>, <uptime>)",
};

function statusPage(whmcsText: boolean, compatPath: boolean): PathItem {
  const operation: Operation = {
    summary: whmcsText
      ? "WHMCS's server-status text for a Server Status Address: <load>, <uptime>, plus the call and extension counts"
      : "ictVoIP's status: version (FusionPBX's), bridge_version, uptime, active_calls, total_extensions, registered_extensions, servers; whitelisted peers or the admin token",
    parameters: whmcsText ? [] : [STATUS_FORMAT],
    responses: {
      '200': {
        description: whmcsText
          ? 'text/plain'
          : `status "success", or "error" when a server did not fully answer; X-RateLimit-Limit/-Remaining/-Reset${
              compatPath ? "; a GET with no credentials and no JSON in Accept (WHMCS reading its Server Status Address) gets WHMCS's text/plain" : ''
            }`,
      },
      '400': { description: 'format other than json, whmcs, text (Invalid Request)' },
      ...(compatPath ? { '401': { description: 'COMPAT_ICTVOIP=1: username/password (form fields or HTTP Basic) sent and wrong' } } : {}),
      '403': { description: 'not whitelisted, no admin token' },
      '429': { description: 'over STATUS_RATE_LIMIT for this caller; Retry-After' },
    },
  };
  return { get: operation, post: operation };
}

export const STATUS_PATHS_DOCUMENT: Record<string, PathItem> = {
  '/status': statusPage(false, false),
  '/app/status/': statusPage(false, true),
  '/app/status/index.php': statusPage(false, true),
  '/status/whmcs/': statusPage(true, false),
  '/status/whmcs/index.php': statusPage(true, false),
};

export const ADMIN_PATHS_DOCUMENT: Record<string, PathItem> = {
  '/openapi.json': { get: { summary: 'this document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
  '/admin/drift': {
    get: {
      summary: 'the last drift report (WHMCS, the bridge and FusionPBX compared)',
      ...ADMIN,
      responses: { '200': { description: 'report' }, '401': error('token required'), '404': error('no report yet') },
    },
    post: {
      summary: 'run a drift check now (?fix=1 converges what has a fix; ?wait=N seconds, at most 25)',
      ...ADMIN,
      responses: { '200': { description: 'finished' }, '202': { description: 'running' }, '400': error('bad wait'), '401': error('token required') },
    },
  },
  '/admin/credit': {
    get: {
      summary: 'credit-control states (?service=N or ?client=N) and, for one, its mails',
      ...ADMIN,
      responses: { '200': { description: '{services, mails}' }, '400': error('bad id'), '401': error('token required') },
    },
  },
  '/admin/credit/check': {
    post: {
      summary: 'a credit check of ?client=N now, on a worker',
      ...ADMIN,
      responses: { '202': { description: '{jobId, clientId}' }, '400': error('client missing or bad'), '401': error('token required') },
    },
  },
};

const clientPage = (summary: string): PathItem => ({
  post: {
    summary: `WHMCS client area (the server module): ${summary}; JSON body {serviceId, …}, signed like the webhook`,
    ...SIGNED,
    responses: {
      '200': { description: 'the page data' },
      '400': error('names each bad field'),
      '401': error('bad signature'),
      '404': error('unknown service'),
      '409': error('tenant not in FusionPBX yet'),
    },
  },
});

const adminPage = (method: 'get' | 'post', summary: string): PathItem => ({
  [method]: {
    summary: `WHMCS addon module page: ${summary}; ADMIN_TOKEN only`,
    ...ADMIN,
    responses: { '200': { description: 'the page data' }, '400': error('names each bad field'), '401': error('token required') },
  },
});

export const WHMCS_PAGES_DOCUMENT: Record<string, PathItem> = {
  '/whmcs/client/overview': clientPage('everything the product page shows'),
  '/whmcs/client/calls': clientPage('calls of a period, search by number, paging'),
  '/whmcs/client/calls.csv': clientPage('the calls of a period as CSV'),
  '/whmcs/client/phones': clientPage('phones: registration state and voicemail'),
  '/whmcs/client/phones/reset-password': clientPage('a new SIP password for {extension}, shown once (5 per service per hour)'),
  '/admin/pages/dashboard': adminPage('get', 'queues and failed jobs'),
  '/admin/pages/jobs/retry': adminPage('post', 'retry a failed job {queue, jobId}'),
  '/admin/pages/rate-decks': adminPage('get', 'rate decks'),
  '/admin/pages/rate-decks/{name}': adminPage('get', 'one deck (?prefix=)'),
  '/admin/pages/rate-decks/preview': adminPage('post', 'preview an import {name, currency, countryCode, nationalPrefix?, defaultIncrements?, columnMapping?, csv}'),
  '/admin/pages/rate-decks/import': adminPage('post', 'import a deck {name, currency, countryCode, nationalPrefix?, defaultIncrements?, columnMapping?, csv}'),
  '/admin/pages/billing/batches': adminPage('get', 'billing batches of ?period=YYYY-MM'),
  '/admin/pages/servers': adminPage('get', 'FusionPBX servers'),
  '/admin/pages/credit': adminPage('get', 'credit control'),
  '/admin/pages/registrations': adminPage('get', 'registration alerts'),
};

const COMPAT_SUMMARIES: Record<string, string> = {
  '/app/registrations/check_registration.php': 'extension, tenant_domain → registered "yes"/"no", register_ip, register_port, register_useragent',
  '/app/gateways/provision.php':
    'gateway_name, gateway_domain, gateway_username, gateway_password (tenant_domain, server optional) → gateway_uuid, gateway_name, gateway_domain, gateway_enabled',
  '/app/gateways/provision_list.php': 'tenant_domain optional → gateways [{gateway_uuid, gateway_name, gateway_domain, gateway_enabled, gateway_status, tenant_domain}]',
  '/app/extensions/manage.php':
    'action (create, update, enable, disable, delete), extension, domain → action, extension, domain, extension_uuid, enabled (password when created; a queued create’s 202 carries it too)',
  '/app/xml_cdr/export_cdr.php': 'date_start, date_end, format (JSON, CSV, XML), tenant_domain optional → date_range, export_format, records, total_records',
  '/app/jobs/status.php':
    'the bridge’s own (not ictVoIP’s): job_id (a 202’s job_url) → job_id, state, action, attempts, max_attempts, last_error, created_at, finished_at, write {status, http_status, result, error} (failed_sends and detail: an owed FreeSWITCH job Redis does not hold or cannot be asked about, waiting; its attempts null); the jobs of the tenants the caller sees, another’s is Not Found',
};

const COMPAT_ERRORS = {
  '400': { description: 'Missing Parameters / Invalid Request: … (ictVoIP envelope {status:"error", message, timestamp})' },
  '401': { description: 'Authentication Failed: Invalid credentials' },
  '403': { description: 'API Access Denied: not whitelisted (or Access Denied: a read-only key)' },
  '404': { description: 'Not Found: tenant or extension' },
  '429': { description: 'Rate Limited: …; Retry-After' },
  '503': { description: 'Server Error: a dependency is down; Retry-After' },
};

/** ictVoIP's endpoints: a form POST (urlencoded or multipart); a GET reads the query string, except on a write (405). */
export function compatPathsDocument(): Record<string, PathItem> {
  const paths: Record<string, PathItem> = {};
  for (const route of COMPAT_ROUTES) {
    const summary = `ictVoIP (COMPAT_ICTVOIP=1): ${COMPAT_SUMMARIES[route.path] ?? route.path}; FusionPBX superadmin username/password from a whitelisted peer, or an API key`;
    const post = {
      summary,
      security: [{ apiKey: [] }, {}],
      requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } }, 'multipart/form-data': { schema: { type: 'object' } } } },
      responses: {
        '200': { description: 'status "success", message, timestamp, then the fields' },
        ...(route.writes ? { '202': { description: 'queued: job_id, job_url (/app/jobs/status.php?job_id=…, read with the same credentials)' } } : {}),
        ...COMPAT_ERRORS,
      },
    };
    const get = route.writes
      ? { summary: `${route.path} changes FusionPBX: POST only`, responses: { '405': { description: 'Invalid Request: send it as a POST (Allow: POST)' } } }
      : { summary: `${summary} (a GET with HTTP Basic or a key reads its query string as the form)`, security: [{ apiKey: [] }, {}], responses: post.responses };
    paths[route.path] = { post, get };
  }
  return paths;
}
