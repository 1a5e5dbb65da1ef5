import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { rateLimitedWarn, type Logger } from '@ictvoip/config';
import type { Provisioner } from '@ictvoip/fusionpbx';
import { isErrReply, type EslClient } from '@ictvoip/freeswitch';
import type { WhmcsApiClient, WhmcsApiLogger } from '@ictvoip/whmcs';

/**
 * The worker's own Prometheus registry (per process: job timings, event-socket and WHMCS calls,
 * the last drift report). State shared by all processes (queue depth, inbox) is exported by the API.
 */
export interface WorkerMetrics {
  registry: Registry;
  jobDuration: Histogram<'queue' | 'job' | 'outcome'>;
  jobFailures: Counter<'queue' | 'job'>;
  eslCalls: Histogram<'server' | 'command' | 'outcome'>;
  eslErrors: Counter<'server' | 'command'>;
  whmcsCalls: Histogram<'action' | 'outcome'>;
  whmcsErrors: Counter<'action'>;
  fusionpbxCalls: Histogram<'server' | 'call' | 'outcome'>;
  driftDifferences: Gauge<'kind'>;
  driftLastRun: Gauge;
  /** CDRs in FusionPBX not yet collected, per tenant; counted at a scrape from `watchCdrBacklog`'s source, at most once per `cdrBacklogEverySeconds`. */
  cdrBacklog: Gauge<'service_id'>;
  /** Seconds since the oldest backlog value shown was counted. */
  cdrBacklogAge: Gauge;
  collectErrors: Counter<'collector'>;
  /** Registration polls (issue 18): duration by server and outcome, failures by server, transitions, alert deliveries. */
  registrationPolls: Histogram<'server' | 'outcome'>;
  registrationPollErrors: Counter<'server'>;
  registrationTransitions: Counter<'server' | 'transition'>;
  registrationAlerts: Counter<'channel' | 'outcome'>;
  /** Per tenant (service id), from its server's last poll: watched extensions and those registered. */
  registrationsWatched: Gauge<'service_id'>;
  registrationsRegistered: Gauge<'service_id'>;
  /** Gateway monitoring: failed polls and down/up transitions, by server. */
  gatewayPollErrors: Counter<'server'>;
  gatewayPolls: Histogram<'server' | 'outcome'>;
  gatewayTransitions: Counter<'server' | 'transition'>;
  /** Credit control (issue 16): services checked (by outcome), state transitions, WHMCS actions and mails done. */
  creditChecks: Counter<'outcome'>;
  creditTransitions: Counter<'from' | 'to'>;
  creditActions: Counter<'action'>;
  /** Terminated services' last amounts under a cent settled (audit billing.below_cent_settled), by currency. */
  billingBelowCentSettled: Counter<'currency'>;
  /** CDRs the per-day count check (cdr.reconcile) found uncollected behind the look-back window and collected, by FusionPBX server. */
  cdrLateCollected: Counter<'server'>;
  /** CDR sync runs that found the domain of a tenant the bridge provisioned missing from its server's database (nothing read, no run recorded), by FusionPBX server. */
  cdrSyncDomainMissing: Counter<'server'>;
  watchCdrBacklog(source: CdrBacklogSource): void;
  /** Credit state per service and services per billing mode and cycle, read at scrape time. */
  creditState: Gauge<'service_id' | 'state'>;
  creditRestricted: Gauge<'service_id'>;
  billingServices: Gauge<'billing_mode' | 'cycle'>;
  billingPeriodsMode: Gauge<'mode'>;
  watchBilling(source: BillingGaugeSource): void;
}

/** What the billing gauges show (the worker passes billingGauges). */
export type BillingGaugeSource = () => Promise<{
  periodsMode: 'calendar' | 'service';
  credit: { serviceId: number; state: 'ok' | 'low' | 'zero'; restricted: boolean }[];
  services: { billingMode: string; cycle: string; services: number }[];
}>;

/** Every synced tenant's uncollected CDR count (the worker passes cdrBacklogByTenant). */
export type CdrBacklogSource = () => Promise<{ serviceId: number; backlog: number | null }[]>;

export class WorkerMetricsPortError extends Error {
  readonly code = 'WORKER_METRICS_PORT_IN_USE';
  constructor(port: number, reason: string) {
    super(`WORKER_METRICS_PORT ${port}: ${reason} (set another port, or 0 to turn the worker's /metrics off)`);
    this.name = 'WorkerMetricsPortError';
  }
}

const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const CREDIT_STATES = ['ok', 'low', 'zero'] as const;

/**
 * The billing gauges, read at scrape time from the bridge database (so every worker answers the
 * same): one `ictvoip_credit_state` series per service and state (1 = its state now), whether the
 * service is restricted, services per billing mode and recorded cycle, and the install's periods mode.
 */
function billingGauges(registers: Registry[], collectErrors: Counter<'collector'>) {
  let source: BillingGaugeSource | null = null;
  let last: Awaited<ReturnType<BillingGaugeSource>> | null = null;
  let reading: Promise<void> | null = null;
  // One read per scrape for the four gauges (each gauge's collect runs on every scrape).
  const refresh = async (): Promise<void> => {
    if (!source) return;
    reading ??= source()
      .then((value) => {
        last = value;
      })
      .catch(() => {
        collectErrors.inc({ collector: 'billing' });
      })
      .finally(() => {
        setTimeout(() => (reading = null), 1000).unref();
      });
    await reading;
  };
  type Snapshot = Awaited<ReturnType<BillingGaugeSource>>;
  // Each gauge is refilled from the same snapshot at every scrape.
  const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (target: Gauge<L>, snapshot: Snapshot) => void): Gauge<L> => {
    const target: Gauge<L> = new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect: async () => {
        await refresh();
        if (!last) return;
        target.reset();
        fill(target, last);
      },
    });
    return target;
  };
  const creditState = gauge(
    'ictvoip_credit_state',
    'Credit control state of a service under credit control (1 for its state now: ok, low or zero), per service id',
    ['service_id', 'state'],
    (target, snapshot) => {
      for (const row of snapshot.credit) for (const state of CREDIT_STATES) target.set({ service_id: String(row.serviceId), state }, row.state === state ? 1 : 0);
    },
  );
  const creditRestricted = gauge(
    'ictvoip_credit_restricted',
    'A service under credit control is restricted (suspended, by the bridge or anyone else): 1, else 0, per service id',
    ['service_id'],
    (target, snapshot) => {
      for (const row of snapshot.credit) target.set({ service_id: String(row.serviceId) }, row.restricted ? 1 : 0);
    },
  );
  const billingServices = gauge(
    'ictvoip_billing_services',
    'Services not terminated, by billing mode (prepaid, postpaid) and recorded WHMCS cycle (none = not recorded yet)',
    ['billing_mode', 'cycle'],
    (target, snapshot) => {
      for (const row of snapshot.services) target.set({ billing_mode: row.billingMode, cycle: row.cycle }, row.services);
    },
  );
  const billingPeriodsMode = gauge('ictvoip_billing_periods_mode', "The install's billing periods (1 for the mode in force: calendar or service)", ['mode'], (target, snapshot) => {
    for (const mode of ['calendar', 'service'] as const) target.set({ mode }, snapshot.periodsMode === mode ? 1 : 0);
  });
  return {
    creditState,
    creditRestricted,
    billingServices,
    billingPeriodsMode,
    watchBilling: (next: BillingGaugeSource) => {
      source = next;
    },
  };
}

/** How the worker's scrape-time gauges read their sources. */
export interface WorkerMetricsOptions {
  /** CDR_BACKLOG_METRIC_SECONDS: a backlog count younger than this is served as it is (0 = counted at every scrape). */
  cdrBacklogEverySeconds?: number;
  /** Milliseconds since the epoch (tests move it instead of waiting). */
  now?: () => number;
}

interface ShownBacklog {
  value: number;
  /** When the count that gave this value started. */
  countedAt: number;
}

/**
 * The CDR backlog gauge and the age of its figure. The count scans every synced tenant's uncollected
 * rows in v_xml_cdr (about half a second of FusionPBX database CPU at 1M rows without the keyset
 * index), so it runs at most once per `cdrBacklogEverySeconds`, scrapes in between are answered from
 * the last count, and scrapes arriving while it runs wait for that one count rather than start their own.
 */
function cdrBacklogGauges(registers: Registry[], collectErrors: Counter<'collector'>, options: WorkerMetricsOptions) {
  const everyMs = (options.cdrBacklogEverySeconds ?? 60) * 1000;
  const now = options.now ?? Date.now;
  let source: CdrBacklogSource | null = null;
  let shown = new Map<string, ShownBacklog>();
  // When the last count started (whether it worked or not: a failing database is asked again only after the interval too).
  let lastAttempt: number | null = null;
  // When the oldest value shown was counted; null until a count worked.
  let figureAt: number | null = null;
  let counting: Promise<void> | null = null;

  const apply = (rows: Awaited<ReturnType<CdrBacklogSource>>, countedAt: number): void => {
    // A tenant whose server did not answer (null) keeps its last value; the other servers' tenants are current.
    const next = new Map<string, ShownBacklog>();
    for (const row of rows) {
      const id = String(row.serviceId);
      const value = row.backlog === null ? shown.get(id) : { value: row.backlog, countedAt };
      if (value) next.set(id, value);
    }
    cdrBacklog.reset();
    let oldest = countedAt;
    for (const [id, value] of next) {
      cdrBacklog.set({ service_id: id }, value.value);
      oldest = Math.min(oldest, value.countedAt);
    }
    shown = next;
    figureAt = oldest;
    if (rows.some((row) => row.backlog === null)) collectErrors.inc({ collector: 'cdr_backlog' });
  };

  /** The running count, a new one when the last is due, or nothing to wait for. */
  const count = (): Promise<void> | null => {
    if (counting || !source) return counting;
    if (lastAttempt !== null && now() - lastAttempt < everyMs) return null;
    const startedAt = now();
    lastAttempt = startedAt;
    const read = source;
    counting = new Promise<Awaited<ReturnType<CdrBacklogSource>>>((resolve) => resolve(read()))
      .then(
        (rows) => apply(rows, startedAt),
        () => {
          collectErrors.inc({ collector: 'cdr_backlog' });
        },
      )
      .finally(() => {
        counting = null;
      });
    return counting;
  };

  // Read at scrape time from the bridge and FusionPBX databases, so every worker answers the same
  // (aggregate several with max()) and a tenant nobody synced lately is never left at an old value.
  const cdrBacklog: Gauge<'service_id'> = new Gauge({
    name: 'ictvoip_cdr_backlog',
    help: "CDRs in FusionPBX v_xml_cdr after the tenant's sync cursor (not collected, rated or billed yet), per tenant (service id) with a sync cursor (a sync run, or a backfill / cdr.reconcile collection, made it); counted at most once per CDR_BACKLOG_METRIC_SECONDS",
    labelNames: ['service_id'],
    registers,
    collect: async () => {
      await count();
    },
  });
  // Registered after the backlog gauge: in a whole scrape its count has started when this collects, so the age is of the figure shown beside it.
  const cdrBacklogAge: Gauge = new Gauge({
    name: 'ictvoip_cdr_backlog_age_seconds',
    help: 'Seconds since the oldest ictvoip_cdr_backlog value shown was counted (grows past CDR_BACKLOG_METRIC_SECONDS while counts fail); absent until a count worked',
    registers,
    collect: async () => {
      await counting;
      cdrBacklogAge.reset();
      if (figureAt !== null) cdrBacklogAge.set(Math.max(0, now() - figureAt) / 1000);
    },
  });
  return {
    cdrBacklog,
    cdrBacklogAge,
    watchCdrBacklog: (next: CdrBacklogSource) => {
      source = next;
    },
  };
}

export function createWorkerMetrics(options: WorkerMetricsOptions = {}): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ictvoip_worker_' });
  const registers = [registry];
  const collectErrors = new Counter({
    name: 'ictvoip_worker_metrics_collect_errors_total',
    help: 'Scrape-time collectors that failed (their gauges keep the last value), by collector',
    labelNames: ['collector'],
    registers,
  });
  const backlog = cdrBacklogGauges(registers, collectErrors, options);
  const billing = billingGauges(registers, collectErrors);
  return {
    registry,
    collectErrors,
    ...backlog,
    ...billing,
    jobDuration: new Histogram({
      name: 'ictvoip_job_duration_seconds',
      help: 'Time a job handler ran, by queue, job name and outcome',
      labelNames: ['queue', 'job', 'outcome'],
      buckets: JOB_BUCKETS,
      registers,
    }),
    jobFailures: new Counter({ name: 'ictvoip_job_failures_total', help: 'Job attempts that threw, by queue and job name', labelNames: ['queue', 'job'], registers }),
    eslCalls: new Histogram({
      name: 'ictvoip_esl_call_duration_seconds',
      help: 'FreeSWITCH event-socket api/bgapi calls, by FusionPBX server, command and outcome (ok, refused = -ERR reply the caller asked to see, error)',
      labelNames: ['server', 'command', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    }),
    eslErrors: new Counter({
      name: 'ictvoip_esl_call_errors_total',
      help: 'Event-socket calls that threw (connection, timeout, -ERR), by FusionPBX server and command',
      labelNames: ['server', 'command'],
      registers,
    }),
    whmcsCalls: new Histogram({
      name: 'ictvoip_whmcs_call_duration_seconds',
      help: 'WHMCS API calls (retries included), by action and outcome',
      labelNames: ['action', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    }),
    whmcsErrors: new Counter({ name: 'ictvoip_whmcs_call_errors_total', help: 'WHMCS API calls that failed, by action', labelNames: ['action'], registers }),
    fusionpbxCalls: new Histogram({
      name: 'ictvoip_fusionpbx_transaction_duration_seconds',
      help: 'FusionPBX provisioning transactions, by FusionPBX server, call and outcome',
      labelNames: ['server', 'call', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    }),
    driftDifferences: new Gauge({ name: 'ictvoip_drift_differences', help: 'Differences found by the last drift report, by kind', labelNames: ['kind'], registers }),
    driftLastRun: new Gauge({ name: 'ictvoip_drift_last_run_timestamp_seconds', help: 'When the last drift report finished (unix seconds)', registers }),
    registrationPolls: new Histogram({
      name: 'ictvoip_registration_poll_duration_seconds',
      help: 'Registration polls of one FusionPBX server (every enabled SIP profile), by server and outcome',
      labelNames: ['server', 'outcome'],
      buckets: JOB_BUCKETS,
      registers,
    }),
    registrationPollErrors: new Counter({
      name: 'ictvoip_registration_poll_errors_total',
      help: 'Registration polls that failed (event socket down, server disabled or unknown, database): nothing was marked lost, by server',
      labelNames: ['server'],
      registers,
    }),
    registrationTransitions: new Counter({
      name: 'ictvoip_registration_transitions_total',
      help: 'Registration transitions recorded (lost, restored), by server',
      labelNames: ['server', 'transition'],
      registers,
    }),
    registrationAlerts: new Counter({
      name: 'ictvoip_registration_alerts_total',
      help: 'Monitoring alert deliveries, by channel (webhook, email) and outcome (sent, retried, unknown: may have been sent, not resent; failed: given up)',
      labelNames: ['channel', 'outcome'],
      registers,
    }),
    registrationsWatched: new Gauge({
      name: 'ictvoip_registrations_watched',
      help: "Enabled extensions of an active tenant watched by this worker's last poll of its server, per tenant (service id)",
      labelNames: ['service_id'],
      registers,
    }),
    registrationsRegistered: new Gauge({
      name: 'ictvoip_registrations_registered',
      help: "Watched extensions registered at this worker's last poll of the tenant's server, per tenant (service id)",
      labelNames: ['service_id'],
      registers,
    }),
    gatewayPolls: new Histogram({
      name: 'ictvoip_gateway_poll_duration_seconds',
      help: 'Gateway polls of one FusionPBX server (sofia xmlstatus gateway per watched gateway), by server and outcome',
      labelNames: ['server', 'outcome'],
      buckets: JOB_BUCKETS,
      registers,
    }),
    gatewayPollErrors: new Counter({
      name: 'ictvoip_gateway_poll_errors_total',
      help: 'Gateway polls that failed (event socket down, server disabled or unknown, database): no gateway was marked down, by server',
      labelNames: ['server'],
      registers,
    }),
    gatewayTransitions: new Counter({
      name: 'ictvoip_gateway_transitions_total',
      help: 'Gateway transitions recorded (down, up), by server',
      labelNames: ['server', 'transition'],
      registers,
    }),
    creditChecks: new Counter({
      name: 'ictvoip_credit_checks_total',
      help: 'Credit checks of a service, by outcome (read = balance read from WHMCS, unreadable = it could not be read)',
      labelNames: ['outcome'],
      registers,
    }),
    creditTransitions: new Counter({
      name: 'ictvoip_credit_transitions_total',
      help: 'Credit state changes of a service (ok, low, zero), by from and to',
      labelNames: ['from', 'to'],
      registers,
    }),
    creditActions: new Counter({
      name: 'ictvoip_credit_actions_total',
      help: 'What credit control did in WHMCS: suspended, unsuspended, mailed:low, mailed:zero',
      labelNames: ['action'],
      registers,
    }),
    billingBelowCentSettled: new Counter({
      name: 'ictvoip_billing_below_cent_settled_total',
      help: "Terminated services' last amounts under a cent settled as below one cent (no bill can take them), by currency",
      labelNames: ['currency'],
      registers,
    }),
    cdrLateCollected: new Counter({
      name: 'ictvoip_cdr_late_collected_total',
      help: 'CDRs the per-day count check found behind the look-back window, not collected by the sync, and collected (charged), by FusionPBX server',
      labelNames: ['server'],
      registers,
    }),
    cdrSyncDomainMissing: new Counter({
      name: 'ictvoip_cdr_sync_domain_missing_total',
      help: "CDR sync runs that found a provisioned tenant's domain missing from its FusionPBX server's database (wrong database URL, or the domain deleted by hand): its calls not read, the run not counted as a sync, by FusionPBX server",
      labelNames: ['server'],
      registers,
    }),
  };
}

// --- request context: one request id from the webhook into every call a job makes -------------------

interface CallContext {
  logger: Logger;
}

const callContext = new AsyncLocalStorage<CallContext>();

/** Runs `work` so that event-socket, WHMCS and FusionPBX calls it makes log through `logger` (with its request id). */
export function withJobLogger<T>(logger: Logger, work: () => Promise<T>): Promise<T> {
  return callContext.run({ logger }, work);
}

/** The logger of the job being run, or `fallback` outside a job. */
export function currentLogger(fallback: Logger): Logger {
  return callContext.getStore()?.logger ?? fallback;
}

function seconds(startedNs: bigint): number {
  return Number(process.hrtime.bigint() - startedNs) / 1e9;
}

/** Times a job handler and counts its failures; the job's name and queue become labels. */
export async function timeJob<T>(metrics: WorkerMetrics, job: Job, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  const labels = { queue: job.queueName, job: job.name };
  try {
    const result = await work();
    metrics.jobDuration.observe({ ...labels, outcome: 'completed' }, seconds(started));
    return result;
  } catch (error) {
    metrics.jobDuration.observe({ ...labels, outcome: 'failed' }, seconds(started));
    metrics.jobFailures.inc(labels);
    throw error;
  }
}

/** A low-cardinality label for an ESL command: `sofia profile internal killgw <uuid>` → `sofia killgw`. */
export function eslCommandLabel(command: string): string {
  const words = command.trim().split(/\s+/);
  if (words[0] === 'sofia' && words[1] === 'profile' && words[3]) return `sofia ${words[3]}`;
  if (words[0] === 'memcache' && words[1]) return `memcache ${words[1]}`;
  return words[0] || 'empty';
}

/** Errors may quote the command; nothing else (the password is never in a command). */
function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Wraps the client's api/bgapi on this instance (the package stays untouched): each call is timed,
 * counted on failure and logged at debug level with the running job's request id.
 */
export function instrumentEsl(esl: EslClient, metrics: WorkerMetrics, fallback: Logger, server: string): EslClient {
  // While the event socket is down every retried job fails the same way: one line per minute per error, with the count.
  const failed = rateLimitedWarn({ warn: (fields, message) => currentLogger(fallback).warn(fields, message) });
  for (const method of ['api', 'apiBytes', 'bgapi'] as const) {
    const original = esl[method].bind(esl) as (command: string, ...rest: unknown[]) => Promise<string | Buffer>;
    const timed = async (command: string, ...rest: unknown[]): Promise<string | Buffer> => {
      const label = eslCommandLabel(command);
      const started = process.hrtime.bigint();
      try {
        const reply = await original(command, ...rest);
        // A raw `-ERR` reply reaches us only when the caller tolerates some (e.g. "not found"): outcome `refused`, not an error.
        const refused = typeof reply === 'string' ? reply.startsWith('-ERR') : isErrReply(reply);
        metrics.eslCalls.observe({ server, command: label, outcome: refused ? 'refused' : 'ok' }, seconds(started));
        currentLogger(fallback).debug({ esl: method, server, command, ms: Math.round(seconds(started) * 1000), refused }, 'event-socket call');
        return reply;
      } catch (error) {
        metrics.eslCalls.observe({ server, command: label, outcome: 'error' }, seconds(started));
        metrics.eslErrors.inc({ server, command: label });
        failed({ esl: method, server, command, ms: Math.round(seconds(started) * 1000), err: errorText(error) }, 'event-socket call failed', `${server}:${errorText(error)}`);
        throw error;
      }
    };
    Object.defineProperty(esl, method, { value: timed, configurable: true, writable: true });
  }
  const pipelined = esl.apiPipelined.bind(esl);
  // A pipeline is one round trip: each command is counted with the pipeline's duration.
  const timedPipeline = async (commands: readonly string[]): Promise<string[]> => {
    const started = process.hrtime.bigint();
    try {
      const replies = await pipelined(commands);
      const ms = Math.round(seconds(started) * 1000);
      commands.forEach((command, index) => {
        const refused = replies[index]?.startsWith('-ERR') ?? false;
        metrics.eslCalls.observe({ server, command: eslCommandLabel(command), outcome: refused ? 'refused' : 'ok' }, seconds(started));
        currentLogger(fallback).debug({ esl: 'api', server, command, ms, refused, pipelined: commands.length }, 'event-socket call');
      });
      return replies;
    } catch (error) {
      for (const command of commands) {
        metrics.eslCalls.observe({ server, command: eslCommandLabel(command), outcome: 'error' }, seconds(started));
        metrics.eslErrors.inc({ server, command: eslCommandLabel(command) });
      }
      failed(
        { esl: 'api', server, command: commands.join('; '), ms: Math.round(seconds(started) * 1000), err: errorText(error) },
        'event-socket call failed',
        `${server}:${errorText(error)}`,
      );
      throw error;
    }
  };
  Object.defineProperty(esl, 'apiPipelined', { value: timedPipeline, configurable: true, writable: true });
  return esl;
}

/** Wraps `WhmcsApiClient.call` (every typed action goes through it) with timing, error counts and request-id logs. */
export function instrumentWhmcs(client: WhmcsApiClient, metrics: WorkerMetrics, fallback: Logger): WhmcsApiClient {
  const original = client.call.bind(client);
  const timed: WhmcsApiClient['call'] = async (action, params, options) => {
    const started = process.hrtime.bigint();
    try {
      const reply = await original(action, params, options);
      metrics.whmcsCalls.observe({ action, outcome: 'ok' }, seconds(started));
      currentLogger(fallback).info({ whmcsAction: action, ms: Math.round(seconds(started) * 1000) }, 'WHMCS API call');
      return reply;
    } catch (error) {
      metrics.whmcsCalls.observe({ action, outcome: 'error' }, seconds(started));
      metrics.whmcsErrors.inc({ action });
      const code = (error as { code?: unknown }).code;
      currentLogger(fallback).warn({ whmcsAction: action, ms: Math.round(seconds(started) * 1000), code, err: errorText(error) }, 'WHMCS API call failed');
      throw error;
    }
  };
  Object.defineProperty(client, 'call', { value: timed, configurable: true, writable: true });
  return client;
}

/** A WhmcsApiLogger that writes through the running job's logger (so retries carry the request id). */
export function whmcsClientLogger(fallback: Logger): WhmcsApiLogger {
  return {
    debug: (fields, message) => currentLogger(fallback).debug(fields, message),
    warn: (fields, message) => currentLogger(fallback).warn(fields, message),
  };
}

/** What the commit line names of a provisioner call's result (a purge has no status or changed flag). */
type CallOutcome = { domainName?: string; status?: string; changed?: boolean };

/** Times each FusionPBX transaction and logs its outcome (domain, status, changed) with the request id. */
export function instrumentProvisioner(provisioner: Provisioner, metrics: WorkerMetrics, fallback: Logger, server: string): Provisioner {
  // Each call keeps its own parameter and result types (the tenant command passes through as it is).
  const timed =
    <A extends unknown[], R extends CallOutcome>(call: string, original: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = process.hrtime.bigint();
      try {
        const result = await original(...args);
        metrics.fusionpbxCalls.observe({ server, call, outcome: 'ok' }, seconds(started));
        currentLogger(fallback).info(
          { fusionpbx: call, server, domain: result.domainName, status: result.status, changed: result.changed, ms: Math.round(seconds(started) * 1000) },
          'FusionPBX transaction committed',
        );
        return result;
      } catch (error) {
        metrics.fusionpbxCalls.observe({ server, call, outcome: 'error' }, seconds(started));
        currentLogger(fallback).warn({ fusionpbx: call, server, ms: Math.round(seconds(started) * 1000), err: errorText(error) }, 'FusionPBX transaction rolled back');
        throw error;
      }
    };
  return {
    ...provisioner,
    create: timed('create', provisioner.create),
    suspend: timed('suspend', provisioner.suspend),
    unsuspend: timed('unsuspend', provisioner.unsuspend),
    terminate: timed('terminate', provisioner.terminate),
    changePackage: timed('changePackage', provisioner.changePackage),
    changePassword: timed('changePassword', provisioner.changePassword),
    purgeTenant: timed('purgeTenant', provisioner.purgeTenant),
  };
}

/**
 * The exposition text: every metric, or with `?name[]=a&name[]=b` (the Python client's filter) only
 * those named (unknown names are left out). A filtered scrape runs only the named metrics'
 * collectors: the CDR backlog and billing gauges query the databases at scrape time (the backlog one
 * counts every synced tenant's rows in v_xml_cdr), which a caller wanting the heap need not pay for.
 */
async function metricsText(registry: Registry, names: readonly string[]): Promise<string> {
  if (names.length === 0) return registry.metrics();
  const known = [...new Set(names)].filter((name) => registry.getSingleMetric(name) !== undefined);
  const texts = await Promise.all(known.map((name) => registry.getSingleMetricAsString(name)));
  return texts.length === 0 ? '' : `${texts.join('\n\n')}\n`;
}

/** GET /metrics on its own port (`?name[]=` filters it); rejects with a clear error when the port is taken. */
export async function startMetricsServer(metrics: WorkerMetrics, port: number, host: string | null): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metricsText(metrics.registry, new URL(req.url ?? '/', 'http://worker').searchParams.getAll('name[]')).then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new WorkerMetricsPortError(port, error.code ?? error.message)));
    server.listen(host === null ? { port } : { port, host }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
  return {
    server,
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
