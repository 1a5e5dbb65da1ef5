import { parseExclusions } from '@ictvoip/rating/exclusions';
import { parseTrustProxy, TrustProxyError } from '@ictvoip/whitelist/trust-proxy';
import type Joi from 'joi';
import { loadDotEnv } from './dotenv';
import { ConfigError, type ConfigProblem } from './errors';
import { DEVELOPMENT_SECRETS, environmentSchema, type NodeEnvironment } from './schema';
import { parseSealingKeys, type SealingKeyConfig } from './sealing';

export interface BridgeConfig {
  nodeEnv: NodeEnvironment;
  logLevel: string;
  http: {
    port: number;
    /**
     * Listen address; null (HOST unset) = every address, IPv6 and IPv4: Node binds `::` dual-stack
     * (IPv4 clients then appear as ::ffff:a.b.c.d) and falls back to 0.0.0.0 where there is no IPv6.
     */
    host: string | null;
    /**
     * HOST was unset and the API's own secrets (ADMIN_TOKEN, WEBHOOK_SECRET) are the published
     * development values: it listens on 127.0.0.1 only, so a laptop default is never an open door.
     */
    loopbackForDevelopmentSecrets: boolean;
    trustProxy: string;
  };
  database: { url: string };
  fusionpbx: {
    databaseUrl: string;
    baseDomain: string;
    domainPrefix: string;
    templateDomain: string;
    portalUrl: string;
    cacheMethod: 'memcache' | 'file-esl' | 'file';
    registrationProfile: string;
    provisioningFile: string;
    cacheDir: string;
    terminateRetentionDays: number;
  };
  /**
   * `jobHistory`: what Redis keeps of finished jobs (count and age in seconds), the same for every job of
   * every queue (JOB_HISTORY_*; the defaults are packages/queue's, src/retention.ts).
   */
  redis: {
    url: string;
    queuePrefix: string;
    jobHistory: { completed: { count: number; age: number }; failed: { count: number; age: number } };
  };
  webhook: { secrets: readonly string[]; maxWaitSeconds: number };
  /**
   * Keys of sealed secrets (SEALING_KEY): `keys[0]` seals, every key opens values naming its id;
   * `legacySecrets` (the webhook secrets) open only values sealed before SEALING_KEY existed.
   */
  sealing: { keys: readonly SealingKeyConfig[]; legacySecrets: readonly string[] };
  esl: { host: string; port: number; password: string; timeoutMs: number };
  whmcs: { apiUrl: string; identifier: string; secret: string; timeoutMs: number };
  billing: {
    /** IANA zone of the billing periods (calendar months); use the WHMCS server's */
    timeZone: string;
    closeEverySeconds: number;
    /** a period closes this long after its end, at least the CDR look-back window */
    closeDelaySeconds: number;
    invoiceAction: 'nextcron' | 'nextinvoice' | 'duedate' | 'noinvoice';
    /** an ambiguous push not found in WHMCS invoices after this long may be sent again (nextcron only) */
    resendAfterSeconds: number;
    maxAttempts: number;
    defaultRateDeck: string;
    billedDirections: readonly ('inbound' | 'outbound' | 'local')[];
    /** BILLING_HANGUP_CAUSES, upper-case: an answered call ending with another cause is not billed ('*' = any) */
    hangupCauses: readonly string[];
    reconcileScanInvoices: number;
    /** BILLING_PERIODS; undefined = what the bridge database recorded (see billingPeriodsMode) */
    periods: 'calendar' | 'service' | undefined;
    /** BILLING_EXCLUDES: exclusion patterns for plans that set none ('' = none) */
    excludes: string;
  };
  cdr: { syncEverySeconds: number; lookbackSeconds: number; pageSize: number; maxPagesPerRun: number; reconcileDays: number; reconcileEverySeconds: number };
  /** Registration monitoring (issue 18): poll period, grace before "lost", history retention; alerts go to `alertWebhookUrl` ('' = none). */
  monitoring: {
    pollSeconds: number;
    lostAfterSeconds: number;
    /** Grace before a failing gateway is *down* (GATEWAY_DOWN_AFTER_SECONDS; defaults to lostAfterSeconds). */
    gatewayDownAfterSeconds: number;
    historyRetentionDays: number;
    alertWebhookUrl: string;
    /** ALERT_SIGNING_SECRET: the key alert webhooks are signed with ('' = sent unsigned). */
    alertSigningSecret: string;
    /** WHMCS e-mail template per alert type ('' = no e-mail of that type): ALERT_EMAIL_TEMPLATE_*. */
    emailTemplates: Record<MonitoringAlertType, string>;
    /** WHMCS admin e-mail template per alert type, sent with SendAdminEmail ('' = none of that type): ALERT_ADMIN_EMAIL_TEMPLATE_*. */
    adminEmailTemplates: Record<MonitoringAlertType, string>;
    /** Which admins WHMCS notifies (SendAdminEmail `type`: those with system, account or support notifications on): ALERT_ADMIN_EMAIL_TYPE. */
    adminEmailType: 'system' | 'account' | 'support';
    /** /status requests per client address per rate-limit window (STATUS_RATE_LIMIT). */
    statusRateLimit: number;
  };
  /**
   * Credit control (issue 16): check period (0 = no timer, checks after CDR syncs only), the WHMCS
   * mail templates, the ModuleSuspend reason, what an unreadable balance means (`open`: nothing is
   * restricted; `closed`: read as zero), how long until that is alerted, how long a WHMCS read is
   * reused, the hysteresis above the threshold before a restriction is lifted (decimal string), and
   * the ids of the client custom fields "Low Balance Threshold" / "Manual VoIP Suspend" (0 = by name).
   */
  credit: {
    checkEverySeconds: number;
    lowTemplate: string;
    zeroTemplate: string;
    suspendReason: string;
    unreadable: 'open' | 'closed';
    unreadableAlertSeconds: number;
    cacheSeconds: number;
    hysteresis: string;
    thresholdFieldId: number;
    manualSuspendFieldId: number;
    /** how often prepaid usage is invoiced and paid from credit (0 = never by the timer) */
    prepaidInvoiceEverySeconds: number;
  };
  chkcon: { whitelistFile: string };
  adminToken: string;
  /** REST /v1: requests per key per window, by bucket; the event-socket deadline for live status routes. */
  api: {
    rateLimits: { standard: number; cdrExport: number; gateways: number };
    rateLimitWindowSeconds: number;
    eslDeadlineMs: number;
    writeWaitMs: number;
    /** API_LOCK_WAIT_MS: a /v1 request's wait for a store lock it takes itself (a dry run's service lock). */
    lockWaitMs: number;
    waitFallbackPollMs: number;
    /** API_DEFAULT_MAX_GATEWAYS: a tenant's gateway limit when its plan states none. */
    defaultMaxGateways: number;
    /** API_DEFAULT_MAX_DESTINATIONS: a tenant's inbound number limit for REST writes when its plan states none. */
    defaultMaxDestinations: number;
  };
  /** COMPAT_ICTVOIP=1: ictVoIP's form-POST endpoints under /app/...php, over the same code as /v1. */
  compatIctvoip: boolean;
  /** ictVoIP endpoints: after `maxFailures` wrong superadmin passwords from one address, it is refused for `lockoutSeconds`. */
  compatLogin: { maxFailures: number; lockoutSeconds: number };
  worker: {
    concurrency: number;
    shutdownDeadlineMs: number;
    reconcileEverySeconds: number;
    reconcileAfterSeconds: number;
    jobAttempts: number;
    jobBackoffMs: number;
    /** Longest wait between two attempts of a service's FreeSWITCH backlog job (its delay doubles from jobBackoffMs up to this). */
    freeswitchRetryMaxMs: number;
    /** BullMQ lock duration (and stalled-check interval): how soon a dead worker's jobs are taken over. */
    lockDurationMs: number;
    /** WRITE_LOCK_WAIT_MS: a REST write job's wait for each store lock, per attempt. */
    writeLockWaitMs: number;
    /** Port of the worker's Prometheus listener; 0 = off. */
    metricsPort: number;
    /** How often the drift report runs (0 = never scheduled; the CLI and admin route still work). */
    driftCheckEverySeconds: number;
    /** The /metrics CDR backlog count is served from memory until it is this old (0 = counted at every scrape). */
    cdrBacklogMetricSeconds: number;
  };
}

export { ConfigError, isSettingFault, type ConfigProblem, type SettingFault } from './errors';

/** The four monitoring alerts (the `type` of the alert webhook's body). */
export type MonitoringAlertType = 'registration.lost' | 'registration.restored' | 'gateway.down' | 'gateway.up';
export { parseSealingKeys, type SealingKeyConfig } from './sealing';

type Env = Record<string, string | undefined>;

function withoutEmpty(env: Env): Env {
  // An exported-but-empty variable means "not set", except where empty has a meaning of its own.
  const keepEmpty = new Set([
    'TRUST_PROXY',
    'WHMCS_API_URL',
    'WHMCS_API_IDENTIFIER',
    'WHMCS_API_SECRET',
    'WEBHOOK_SECRET_PREVIOUS',
    'FUSIONPBX_PORTAL_URL',
    'FUSIONPBX_DOMAIN_PREFIX',
    'PROVISIONING_FILE',
    'BILLING_EXCLUDES',
  ]);
  return Object.fromEntries(Object.entries(env).filter(([key, value]) => value !== '' || keepEmpty.has(key)));
}

const DEVELOPMENT_SEALING_KEY = parseSealingKeys(DEVELOPMENT_SECRETS.SEALING_KEY).keys[0]!.key;

function productionProblems(values: Record<string, string>, env: Env, sealingKeys: readonly SealingKeyConfig[]): ConfigProblem[] {
  if (values.NODE_ENV !== 'production') return [];
  const problems = (Object.keys(DEVELOPMENT_SECRETS) as (keyof typeof DEVELOPMENT_SECRETS)[])
    .filter((name) => name !== 'SEALING_KEY' && values[name] === DEVELOPMENT_SECRETS[name])
    .map((name) => ({ variable: name, message: 'is the development default; set a real secret for NODE_ENV=production' }));
  if (env.SEALING_KEY === undefined) {
    problems.push({ variable: 'SEALING_KEY', message: 'is required for NODE_ENV=production: set k1:$(openssl rand -base64 32)' });
  } else if (sealingKeys.some((k) => k.key.equals(DEVELOPMENT_SEALING_KEY))) {
    problems.push({ variable: 'SEALING_KEY', message: 'lists the development key; set a real key for NODE_ENV=production' });
  }
  return problems;
}

/** The listen address (see BridgeConfig.http). */
function httpOf(v: Record<string, never>): BridgeConfig['http'] {
  const development = v.ADMIN_TOKEN === DEVELOPMENT_SECRETS.ADMIN_TOKEN || v.WEBHOOK_SECRET === DEVELOPMENT_SECRETS.WEBHOOK_SECRET;
  const loopback = v.HOST === undefined && development;
  return { port: v.PORT, host: v.HOST ?? (loopback ? '127.0.0.1' : null), loopbackForDevelopmentSecrets: loopback, trustProxy: v.TRUST_PROXY };
}

/** The key bytes are not enumerable: a config printed or serialised by mistake shows the id only. */
function hiddenKey(k: SealingKeyConfig): SealingKeyConfig {
  return Object.freeze(Object.defineProperty({ id: k.id } as SealingKeyConfig, 'key', { value: k.key, enumerable: false }));
}

/**
 * BILLING_EXCLUDES in the grammar plans use (rating's parseExclusions, which throws only its
 * RatingConfigError naming the pattern): one syntax for the default and a plan's billingExcludes.
 */
function exclusionProblems(text: unknown): ConfigProblem[] {
  if (typeof text !== 'string') return [];
  try {
    parseExclusions(text, 'BILLING_EXCLUDES');
    return [];
  } catch (error) {
    return [{ variable: 'BILLING_EXCLUDES', message: error instanceof Error ? error.message : String(error) }];
  }
}

/** TRUST_PROXY in the grammar the API follows X-Forwarded-For by (the whitelist package's parser); the value is not repeated. */
function trustProxyProblems(text: unknown): ConfigProblem[] {
  if (typeof text !== 'string') return [];
  try {
    parseTrustProxy(text);
    return [];
  } catch (error) {
    if (!(error instanceof TrustProxyError)) throw error;
    return [{ variable: 'TRUST_PROXY', message: TRUST_PROXY_GRAMMAR }];
  }
}

const TRUST_PROXY_GRAMMAR =
  'must be off, a hop count (1 to 32) or a comma-separated list of IP addresses, CIDRs and the names loopback, linklocal, uniquelocal ("true" is refused: every client could choose its address)';

/** joi's message without the variable's name and without the value it quotes for some rules (a secret never reaches a log). */
function ruleText(detail: Joi.ValidationErrorItem): string {
  const text = detail.message.replace(/^"[^"]*"\s*/, '').replace(/with value "[\s\S]*?" /, '');
  // The list of allowed words is kept: it is the schema's, not the value.
  return detail.type === 'any.only' ? text : text.replace(/\s*\[[^\]]*\]$/, '');
}

/** Validates the whole environment at once and returns a frozen, typed configuration. */
export function loadConfig(env: Env = process.env): BridgeConfig {
  const { value, error } = environmentSchema.validate(withoutEmpty(env), { abortEarly: false, convert: true });
  const problems: ConfigProblem[] = (error?.details ?? []).map((detail) => ({ variable: String(detail.path[0]), message: ruleText(detail) }));
  const sealing = typeof value?.SEALING_KEY === 'string' ? parseSealingKeys(value.SEALING_KEY) : { keys: [], problems: [] };
  problems.push(...sealing.problems);
  if (value)
    problems.push(
      ...productionProblems(value as Record<string, string>, withoutEmpty(env), sealing.keys),
      ...exclusionProblems(value.BILLING_EXCLUDES),
      ...trustProxyProblems(value.TRUST_PROXY),
    );
  if (problems.length > 0) throw new ConfigError(problems);
  const v = value as Record<string, never>;
  const secrets = Object.freeze([v.WEBHOOK_SECRET as string, v.WEBHOOK_SECRET_PREVIOUS as string | undefined].filter((s): s is string => !!s));
  return Object.freeze<BridgeConfig>({
    nodeEnv: v.NODE_ENV,
    logLevel: v.LOG_LEVEL,
    http: httpOf(v),
    database: { url: v.DATABASE_URL },
    fusionpbx: {
      databaseUrl: v.FUSIONPBX_DATABASE_URL,
      baseDomain: v.FUSIONPBX_BASE_DOMAIN,
      domainPrefix: v.FUSIONPBX_DOMAIN_PREFIX,
      templateDomain: v.FUSIONPBX_TEMPLATE_DOMAIN,
      portalUrl: v.FUSIONPBX_PORTAL_URL,
      cacheMethod: v.FUSIONPBX_CACHE_METHOD,
      registrationProfile: v.FUSIONPBX_PROFILE,
      provisioningFile: v.PROVISIONING_FILE ?? '',
      cacheDir: v.FUSIONPBX_CACHE_DIR,
      terminateRetentionDays: v.TERMINATE_RETENTION_DAYS,
    },
    redis: {
      url: v.REDIS_URL,
      queuePrefix: v.QUEUE_PREFIX,
      jobHistory: {
        completed: { count: v.JOB_HISTORY_COMPLETED_COUNT, age: v.JOB_HISTORY_COMPLETED_AGE_SECONDS },
        failed: { count: v.JOB_HISTORY_FAILED_COUNT, age: v.JOB_HISTORY_FAILED_AGE_SECONDS },
      },
    },
    webhook: { secrets, maxWaitSeconds: v.WEBHOOK_MAX_WAIT_SECONDS },
    sealing: { keys: Object.freeze(sealing.keys.map(hiddenKey)), legacySecrets: secrets },
    esl: { host: v.ESL_HOST, port: v.ESL_PORT, password: v.ESL_PASSWORD, timeoutMs: v.ESL_TIMEOUT_MS },
    whmcs: { apiUrl: v.WHMCS_API_URL ?? '', identifier: v.WHMCS_API_IDENTIFIER ?? '', secret: v.WHMCS_API_SECRET ?? '', timeoutMs: v.WHMCS_API_TIMEOUT_MS },
    billing: {
      timeZone: v.BILLING_TIMEZONE,
      closeEverySeconds: v.BILLING_CLOSE_EVERY_SECONDS,
      closeDelaySeconds: v.BILLING_CLOSE_DELAY_SECONDS,
      invoiceAction: v.BILLING_INVOICE_ACTION,
      resendAfterSeconds: v.BILLING_RESEND_AFTER_SECONDS,
      maxAttempts: v.BILLING_MAX_ATTEMPTS,
      defaultRateDeck: v.BILLING_DEFAULT_RATE_DECK,
      billedDirections: Object.freeze((v.BILLING_DIRECTIONS as string).split(',') as ('inbound' | 'outbound' | 'local')[]),
      hangupCauses: Object.freeze((v.BILLING_HANGUP_CAUSES as string).toUpperCase().split(',')),
      reconcileScanInvoices: v.BILLING_RECONCILE_SCAN_INVOICES,
      periods: v.BILLING_PERIODS as 'calendar' | 'service' | undefined,
      excludes: v.BILLING_EXCLUDES as string,
    },
    cdr: {
      syncEverySeconds: v.CDR_SYNC_EVERY_SECONDS,
      lookbackSeconds: v.CDR_LOOKBACK_SECONDS,
      pageSize: v.CDR_SYNC_PAGE_SIZE,
      maxPagesPerRun: v.CDR_SYNC_MAX_PAGES,
      reconcileDays: v.CDR_RECONCILE_DAYS,
      reconcileEverySeconds: v.CDR_RECONCILE_EVERY_SECONDS,
    },
    monitoring: {
      pollSeconds: v.REGISTRATION_POLL_SECONDS,
      lostAfterSeconds: v.REGISTRATION_LOST_AFTER_SECONDS,
      historyRetentionDays: v.REGISTRATION_HISTORY_RETENTION_DAYS,
      alertWebhookUrl: v.ALERT_WEBHOOK_URL ?? '',
      alertSigningSecret: v.ALERT_SIGNING_SECRET ?? '',
      gatewayDownAfterSeconds: v.GATEWAY_DOWN_AFTER_SECONDS ?? v.REGISTRATION_LOST_AFTER_SECONDS,
      emailTemplates: {
        'registration.lost': v.ALERT_EMAIL_TEMPLATE_LOST ?? '',
        'registration.restored': v.ALERT_EMAIL_TEMPLATE_RESTORED ?? '',
        'gateway.down': v.ALERT_EMAIL_TEMPLATE_GATEWAY_DOWN ?? '',
        'gateway.up': v.ALERT_EMAIL_TEMPLATE_GATEWAY_UP ?? '',
      },
      adminEmailTemplates: {
        'registration.lost': v.ALERT_ADMIN_EMAIL_TEMPLATE_LOST ?? '',
        'registration.restored': v.ALERT_ADMIN_EMAIL_TEMPLATE_RESTORED ?? '',
        'gateway.down': v.ALERT_ADMIN_EMAIL_TEMPLATE_GATEWAY_DOWN ?? '',
        'gateway.up': v.ALERT_ADMIN_EMAIL_TEMPLATE_GATEWAY_UP ?? '',
      },
      adminEmailType: v.ALERT_ADMIN_EMAIL_TYPE as 'system' | 'account' | 'support',
      statusRateLimit: v.STATUS_RATE_LIMIT,
    },
    credit: {
      checkEverySeconds: v.CREDIT_CHECK_EVERY_SECONDS,
      lowTemplate: v.CREDIT_LOW_TEMPLATE,
      zeroTemplate: v.CREDIT_ZERO_TEMPLATE,
      suspendReason: v.CREDIT_SUSPEND_REASON,
      unreadable: v.CREDIT_UNREADABLE,
      unreadableAlertSeconds: v.CREDIT_UNREADABLE_ALERT_SECONDS,
      cacheSeconds: v.CREDIT_CACHE_SECONDS,
      hysteresis: v.CREDIT_HYSTERESIS,
      thresholdFieldId: v.CREDIT_THRESHOLD_FIELD_ID,
      manualSuspendFieldId: v.CREDIT_MANUAL_SUSPEND_FIELD_ID,
      prepaidInvoiceEverySeconds: v.CREDIT_PREPAID_INVOICE_EVERY_SECONDS,
    },
    chkcon: { whitelistFile: v.CHKCON_WHITELIST_FILE },
    adminToken: v.ADMIN_TOKEN,
    api: {
      rateLimits: { standard: v.API_RATE_LIMIT_STANDARD, cdrExport: v.API_RATE_LIMIT_CDR_EXPORT, gateways: v.API_RATE_LIMIT_GATEWAYS },
      rateLimitWindowSeconds: v.API_RATE_LIMIT_WINDOW_SECONDS,
      eslDeadlineMs: v.API_ESL_DEADLINE_MS,
      writeWaitMs: v.API_WRITE_WAIT_MS,
      lockWaitMs: v.API_LOCK_WAIT_MS,
      waitFallbackPollMs: v.API_WAIT_FALLBACK_POLL_MS,
      defaultMaxGateways: v.API_DEFAULT_MAX_GATEWAYS,
      defaultMaxDestinations: v.API_DEFAULT_MAX_DESTINATIONS,
    },
    compatIctvoip: v.COMPAT_ICTVOIP === '1',
    compatLogin: { maxFailures: v.COMPAT_LOGIN_MAX_FAILURES, lockoutSeconds: v.COMPAT_LOGIN_LOCKOUT_SECONDS },
    worker: {
      concurrency: v.WORKER_CONCURRENCY,
      shutdownDeadlineMs: v.SHUTDOWN_DEADLINE_MS,
      reconcileEverySeconds: v.RECONCILE_EVERY_SECONDS,
      reconcileAfterSeconds: v.RECONCILE_AFTER_SECONDS,
      jobAttempts: v.JOB_ATTEMPTS,
      jobBackoffMs: v.JOB_BACKOFF_MS,
      freeswitchRetryMaxMs: v.FREESWITCH_RETRY_MAX_MS,
      lockDurationMs: v.WORKER_LOCK_DURATION_MS,
      writeLockWaitMs: v.WRITE_LOCK_WAIT_MS,
      metricsPort: v.WORKER_METRICS_PORT,
      driftCheckEverySeconds: v.DRIFT_CHECK_EVERY_SECONDS,
      cdrBacklogMetricSeconds: v.CDR_BACKLOG_METRIC_SECONDS,
    },
  });
}

/**
 * Reads `.env` from the working directory (if there is one) into process.env without overriding
 * what is already set, then validates. A malformed `.env` is a ConfigError naming the file and line.
 */
export function loadConfigFromProcess(options: { dir?: string } = {}): BridgeConfig {
  loadDotEnv({ dir: options.dir, env: process.env });
  return loadConfig(process.env);
}
