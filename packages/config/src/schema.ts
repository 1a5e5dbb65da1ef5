import Joi from 'joi';

/** Development values of secrets: fine on a laptop, refused when NODE_ENV=production. */
export const DEVELOPMENT_SECRETS = {
  WEBHOOK_SECRET: 'dev-webhook-secret-change-me',
  ADMIN_TOKEN: 'dev-admin-token-change-me',
  ESL_PASSWORD: 'ClueCon',
  // key id "dev", key = base64 of the 32 bytes "dev-sealing-key-change-me-000000"
  SEALING_KEY: 'dev:ZGV2LXNlYWxpbmcta2V5LWNoYW5nZS1tZS0wMDAwMDA=',
} as const;

/** Joi's uri rule takes a port above 65535, which the drivers' URL parser then refuses with a bare "Invalid URL". */
const parsableUrl: Joi.CustomValidator<string> = (value, helpers) => {
  // Not even a URL: the uri rule has said so already (one problem per variable).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  try {
    new URL(value);
    return value;
  } catch {
    return helpers.message({ custom: 'is not a URL the database drivers can read (check the port: 1-65535)' });
  }
};
const postgresUrl = Joi.string()
  .uri({ scheme: ['postgres', 'postgresql'] })
  .custom(parsableUrl);
const redisUrl = Joi.string()
  .uri({ scheme: ['redis', 'rediss'] })
  .custom(parsableUrl);
const port = Joi.number().integer().min(1).max(65535);

export const environmentSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  LOG_LEVEL: Joi.string().valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent').default('info'),
  PORT: port.default(3000),
  // Unset: every address, IPv6 and IPv4 (see BridgeConfig.http.host).
  HOST: Joi.string().hostname(),
  DATABASE_URL: postgresUrl.default('postgres://postgres@127.0.0.1:5432/ictvoip'),
  FUSIONPBX_DATABASE_URL: postgresUrl.default('postgres://postgres@127.0.0.1:5432/fusionpbx'),
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: Joi.string()
    .pattern(/^[A-Za-z0-9{}_-]+$/)
    .default('{ictvoip}'),
  // What Redis keeps of finished jobs, one bound for every job of every queue (packages/queue/src/retention.ts).
  // A CLI `--wait` reads its jobs' results from Redis: a completed count below a batch's size loses some of them.
  JOB_HISTORY_COMPLETED_COUNT: Joi.number().integer().min(1).max(1_000_000).default(1000),
  JOB_HISTORY_COMPLETED_AGE_SECONDS: Joi.number()
    .integer()
    .min(60)
    .max(365 * 24 * 3600)
    .default(24 * 3600),
  JOB_HISTORY_FAILED_COUNT: Joi.number().integer().min(1).max(1_000_000).default(1000),
  JOB_HISTORY_FAILED_AGE_SECONDS: Joi.number()
    .integer()
    .min(60)
    .max(365 * 24 * 3600)
    .default(7 * 24 * 3600),
  WEBHOOK_SECRET: Joi.string().min(16).default(DEVELOPMENT_SECRETS.WEBHOOK_SECRET),
  WEBHOOK_SECRET_PREVIOUS: Joi.string().min(16).allow(''),
  // `<key id>:<base64 32 bytes>[,<key id>:<key>…]`: the first seals, all open (checked in config.ts).
  SEALING_KEY: Joi.string().default(DEVELOPMENT_SECRETS.SEALING_KEY),
  WEBHOOK_MAX_WAIT_SECONDS: Joi.number().integer().min(0).max(25).default(25),
  ESL_HOST: Joi.string().hostname().default('127.0.0.1'),
  ESL_PORT: port.default(8021),
  ESL_PASSWORD: Joi.string().min(1).default(DEVELOPMENT_SECRETS.ESL_PASSWORD),
  ESL_TIMEOUT_MS: Joi.number().integer().min(100).max(120000).default(5000),
  WHMCS_API_URL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .allow(''),
  WHMCS_API_IDENTIFIER: Joi.string().allow(''),
  WHMCS_API_SECRET: Joi.string().allow(''),
  CHKCON_WHITELIST_FILE: Joi.string().default('./chkcon_whitelist.conf'),
  TRUST_PROXY: Joi.string().allow('').default(''),
  ADMIN_TOKEN: Joi.string().min(16).default(DEVELOPMENT_SECRETS.ADMIN_TOKEN),
  WORKER_CONCURRENCY: Joi.number().integer().min(1).max(256).default(8),
  SHUTDOWN_DEADLINE_MS: Joi.number().integer().min(100).max(600000).default(20000),
  RECONCILE_EVERY_SECONDS: Joi.number().integer().min(1).max(86400).default(60),
  RECONCILE_AFTER_SECONDS: Joi.number().integer().min(1).max(86400).default(120),
  JOB_ATTEMPTS: Joi.number().integer().min(1).max(100).default(8),
  JOB_BACKOFF_MS: Joi.number().integer().min(10).max(3600000).default(2000),
  // The FreeSWITCH backlog job's retry delay doubles from JOB_BACKOFF_MS up to this: once the event socket answers, the backlog is sent within it.
  FREESWITCH_RETRY_MAX_MS: Joi.number().integer().min(10).max(3600000).default(60000),
  // How long a REST write's job waits for each store lock it takes (the service's, a client's credit, a FusionPBX server's) per attempt.
  WRITE_LOCK_WAIT_MS: Joi.number().integer().min(10).max(600000).default(30000),
  // BullMQ's job lock: a job whose worker died (kill -9) is taken over after about this long (stalled check runs as often).
  WORKER_LOCK_DURATION_MS: Joi.number().integer().min(1000).max(3600000).default(30000),
  // 0 turns the worker's own /metrics listener off; off by default under NODE_ENV=test so parallel test workers never clash.
  WORKER_METRICS_PORT: Joi.number()
    .integer()
    .min(0)
    .max(65535)
    .when('NODE_ENV', { is: 'test', then: Joi.number().default(0), otherwise: Joi.number().default(9464) }),
  // The worker's CDR backlog gauge counts every synced tenant's uncollected v_xml_cdr rows: at most once per this many seconds (0 = at every scrape).
  CDR_BACKLOG_METRIC_SECONDS: Joi.number().integer().min(0).max(86400).default(60),
  DRIFT_CHECK_EVERY_SECONDS: Joi.number()
    .integer()
    .min(0)
    .max(7 * 86400)
    .when('NODE_ENV', { is: 'test', then: Joi.number().default(0), otherwise: Joi.number().default(86400) }),
  FUSIONPBX_BASE_DOMAIN: Joi.string().hostname().default('pbx.example.net'),
  FUSIONPBX_DOMAIN_PREFIX: Joi.string()
    .pattern(/^[a-z0-9-]*$/)
    .allow('')
    .default('t'),
  FUSIONPBX_TEMPLATE_DOMAIN: Joi.string().hostname().default('template.invalid'),
  FUSIONPBX_PORTAL_URL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .allow('')
    .default(''),
  FUSIONPBX_CACHE_METHOD: Joi.string().valid('memcache', 'file-esl', 'file').default('file-esl'),
  FUSIONPBX_PROFILE: Joi.string()
    .pattern(/^[A-Za-z0-9_.-]+$/)
    .default('internal'),
  PROVISIONING_FILE: Joi.string().allow('').default(''),
  FUSIONPBX_CACHE_DIR: Joi.string().default('/var/cache/fusionpbx'),
  TERMINATE_RETENTION_DAYS: Joi.number().integer().min(0).max(3650).default(30),
  API_RATE_LIMIT_STANDARD: Joi.number().integer().min(1).max(1000000).default(100),
  API_RATE_LIMIT_CDR_EXPORT: Joi.number().integer().min(1).max(1000000).default(10),
  API_RATE_LIMIT_GATEWAYS: Joi.number().integer().min(1).max(1000000).default(50),
  API_RATE_LIMIT_WINDOW_SECONDS: Joi.number().integer().min(1).max(86400).default(60),
  API_ESL_DEADLINE_MS: Joi.number().integer().min(100).max(60000).default(3000),
  API_WRITE_WAIT_MS: Joi.number().integer().min(0).max(60000).default(10000),
  /** How long a /v1 request that takes a store lock itself (a `?dryRun=1` write: the service lock) waits for it before its 503. */
  API_LOCK_WAIT_MS: Joi.number().integer().min(10).max(60000).default(10000),
  /** Gateways a tenant may have through /v1 (and provision.php) when its plan states no maxGateways. */
  API_DEFAULT_MAX_GATEWAYS: Joi.number().integer().min(0).max(1000).default(10),
  /** Inbound numbers a tenant may have when it adds them through /v1 and its plan states no maxDestinations (the plan's DIDs are never limited by it). */
  API_DEFAULT_MAX_DESTINATIONS: Joi.number().integer().min(0).max(10000).default(20),
  /** How often a waiting answer re-reads its row while finishes arrive by LISTEN/NOTIFY: a fallback only. */
  API_WAIT_FALLBACK_POLL_MS: Joi.number().integer().min(10).max(60000).default(200),
  /** ictVoIP's `/app/...php` endpoints (issue 17): off unless `1`. */
  COMPAT_ICTVOIP: Joi.string().valid('0', '1').default('0'),
  /** Wrong FusionPBX superadmin passwords one address may send them before it is locked out, and for how long. */
  COMPAT_LOGIN_MAX_FAILURES: Joi.number().integer().min(1).max(1000).default(10),
  COMPAT_LOGIN_LOCKOUT_SECONDS: Joi.number().integer().min(1).max(86400).default(900),
  // Billing and CDR sync (issue 6).
  BILLING_TIMEZONE: Joi.string()
    .custom((value: string) => {
      new Intl.DateTimeFormat('en-US', { timeZone: value });
      return value;
    }, 'IANA time zone')
    .default('UTC')
    .messages({ 'any.custom': 'must be an IANA time zone such as Europe/Berlin' }),
  BILLING_CLOSE_EVERY_SECONDS: Joi.number().integer().min(1).max(86400).default(3600),
  BILLING_CLOSE_DELAY_SECONDS: Joi.number()
    .integer()
    .min(0)
    .max(31 * 86400)
    .min(Joi.ref('CDR_LOOKBACK_SECONDS'))
    .default(21600),
  BILLING_INVOICE_ACTION: Joi.string().valid('nextcron', 'nextinvoice', 'duedate', 'noinvoice').default('nextcron'),
  BILLING_RESEND_AFTER_SECONDS: Joi.number()
    .integer()
    .min(0)
    .max(365 * 86400)
    .default(172800),
  BILLING_MAX_ATTEMPTS: Joi.number().integer().min(1).max(100).default(5),
  BILLING_DEFAULT_RATE_DECK: Joi.string().allow('').default(''),
  BILLING_DIRECTIONS: Joi.string()
    .pattern(/^(inbound|outbound|local)(,(inbound|outbound|local))*$/)
    .default('outbound'),
  // FreeSWITCH hangup causes of an answered call that is billed; '*' = every answered call. The transfer
  // causes end the transferring party's leg of a call that was carried until the transfer.
  BILLING_HANGUP_CAUSES: Joi.string()
    .pattern(/^(\*|[A-Za-z_]+(,[A-Za-z_]+)*)$/)
    .default('NORMAL_CLEARING,NORMAL_UNSPECIFIED,MEDIA_TIMEOUT,ALLOTTED_TIMEOUT,BLIND_TRANSFER,ATTENDED_TRANSFER'),
  BILLING_RECONCILE_SCAN_INVOICES: Joi.number().integer().min(1).max(100).default(10),
  // Unset: what the database recorded at migration 010 (calendar for an install that already billed, service for a new one).
  BILLING_PERIODS: Joi.string().valid('calendar', 'service'),
  // ictVoIP's exclusion syntax, for plans that set no billingExcludes: checked in loadConfig with rating's own parser (one grammar for both).
  BILLING_EXCLUDES: Joi.string().allow('').default('[emergency],[tollfree]'),
  CDR_SYNC_EVERY_SECONDS: Joi.number().integer().min(1).max(86400).default(300),
  CDR_LOOKBACK_SECONDS: Joi.number()
    .integer()
    .min(0)
    .max(30 * 86400)
    .default(14400),
  CDR_SYNC_PAGE_SIZE: Joi.number().integer().min(1).max(5000).default(500),
  CDR_SYNC_MAX_PAGES: Joi.number().integer().min(1).max(100000).default(200),
  // The per-day count check behind the look-back window (cdr.reconcile): days looked at (0: off), and how often.
  CDR_RECONCILE_DAYS: Joi.number().integer().min(0).max(90).default(7),
  CDR_RECONCILE_EVERY_SECONDS: Joi.number().integer().min(300).max(604800).default(86400),
  WHMCS_API_TIMEOUT_MS: Joi.number().integer().min(100).max(300000).default(30000),
  REGISTRATION_POLL_SECONDS: Joi.number().integer().min(5).max(3600).default(60),
  REGISTRATION_LOST_AFTER_SECONDS: Joi.number().integer().min(0).max(86400).default(180),
  REGISTRATION_HISTORY_RETENTION_DAYS: Joi.number().integer().min(1).max(3650).default(90),
  ALERT_WEBHOOK_URL: Joi.string().uri({ scheme: ['http', 'https'] }),
  // Signs outgoing alert webhooks; never WEBHOOK_SECRET, whose signatures open the bridge's own routes.
  ALERT_SIGNING_SECRET: Joi.string().min(16),
  // Credit control (issue 16).
  CREDIT_CHECK_EVERY_SECONDS: Joi.number().integer().min(0).max(86400).default(300),
  CREDIT_LOW_TEMPLATE: Joi.string().trim().min(1).max(255).default('VoIP Low Balance Alert'),
  CREDIT_ZERO_TEMPLATE: Joi.string().trim().min(1).max(255).default('VoIP Zero Balance'),
  CREDIT_SUSPEND_REASON: Joi.string().trim().min(1).max(255).default('VoIP zero balance'),
  CREDIT_UNREADABLE: Joi.string().valid('open', 'closed').default('open'),
  CREDIT_UNREADABLE_ALERT_SECONDS: Joi.number()
    .integer()
    .min(0)
    .max(7 * 86400)
    .default(3600),
  CREDIT_CACHE_SECONDS: Joi.number().integer().min(0).max(3600).default(30),
  CREDIT_HYSTERESIS: Joi.string()
    .pattern(/^\d{1,9}(\.\d{1,6})?$/)
    .default('1.00')
    .messages({ 'string.pattern.base': 'must be a decimal amount such as "1.00"' }),
  CREDIT_PREPAID_INVOICE_EVERY_SECONDS: Joi.number()
    .integer()
    .min(0)
    .max(31 * 86400)
    .default(86400),
  CREDIT_THRESHOLD_FIELD_ID: Joi.number().integer().min(0).default(0),
  CREDIT_MANUAL_SUSPEND_FIELD_ID: Joi.number().integer().min(0).default(0),
  GATEWAY_DOWN_AFTER_SECONDS: Joi.number().integer().min(0).max(86400),
  ALERT_EMAIL_TEMPLATE_LOST: Joi.string().trim().max(200).allow(''),
  ALERT_EMAIL_TEMPLATE_RESTORED: Joi.string().trim().max(200).allow(''),
  ALERT_EMAIL_TEMPLATE_GATEWAY_DOWN: Joi.string().trim().max(200).allow(''),
  ALERT_EMAIL_TEMPLATE_GATEWAY_UP: Joi.string().trim().max(200).allow(''),
  ALERT_ADMIN_EMAIL_TEMPLATE_LOST: Joi.string().trim().max(200).allow(''),
  ALERT_ADMIN_EMAIL_TEMPLATE_RESTORED: Joi.string().trim().max(200).allow(''),
  ALERT_ADMIN_EMAIL_TEMPLATE_GATEWAY_DOWN: Joi.string().trim().max(200).allow(''),
  ALERT_ADMIN_EMAIL_TEMPLATE_GATEWAY_UP: Joi.string().trim().max(200).allow(''),
  ALERT_ADMIN_EMAIL_TYPE: Joi.string().valid('system', 'account', 'support').default('system'),
  STATUS_RATE_LIMIT: Joi.number().integer().min(1).max(100000).default(100),
}).unknown(true);

export type NodeEnvironment = 'development' | 'production' | 'test';
