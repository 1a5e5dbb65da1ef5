/**
 * The WHMCS pages under test: a whole bridge (real API, PostgreSQL, Redis, FusionPBX schema) with one
 * tenant whose calls, charges, phones and billing batches are seeded, and the PHP stand-in for WHMCS's
 * clientarea.php and addonmodules.php (php -S with test/php/whmcs-standin.php) pointed at it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { QUEUE_NAMES, type QueueName } from '@ictvoip/queue';
import { freePort } from '@ictvoip/testkit';
import { redisConnection } from './redis-connection';
import { startBridge, waitFor, type Bridge } from '../../worker/test/harness';
import { seedTenant } from '../../api/test/v1-tenant-fixture';

export const MODULE_ROOT = path.resolve(__dirname, '../modules');
export const SERVER_MODULE = path.join(MODULE_ROOT, 'servers/ictvoip/ictvoip.php');
export const ADDON_MODULE = path.join(MODULE_ROOT, 'addons/ictvoip/ictvoip.php');
const ROUTER = path.join(__dirname, 'php', 'whmcs-standin.php');

/**
 * Smarty from Debian (`apt-get install smarty4`, or smarty3), or wherever SMARTY_CLASS points. The
 * tests fail (never skip) without it: the templates are what they check.
 */
export function smartyClass(): string {
  const candidates = [process.env.SMARTY_CLASS, '/usr/share/php/smarty4/Smarty.class.php', '/usr/share/php/smarty3/Smarty.class.php'].filter(Boolean) as string[];
  const found = candidates.find((file) => existsSync(file));
  if (!found) throw new Error('Smarty is required for the WHMCS page tests: apt-get install smarty4 (or set SMARTY_CLASS to Smarty.class.php)');
  return found;
}

export function assertPhp(): void {
  const probe = spawnSync('php', ['-r', 'echo extension_loaded("curl") ? "ok" : "no-curl";'], { encoding: 'utf8' });
  if (probe.error) throw new Error('php-cli is required for the WHMCS page tests (Debian: apt-get install php-cli php-curl)');
  if (probe.stdout.trim() !== 'ok') throw new Error('php needs the curl extension (Debian: apt-get install php-curl)');
}

export const SERVICE_ID = 8801;
export const DOMAIN = 'pages-tenant.pbx.example.net';
export const HOSTILE_NAME = '<script>window.__pwned=1</script>"quoted"';
export const HOSTILE_NUMBER = '=cmd|\' /C calc\'!A0';
/**
 * The seeded calls' months come from the clock: the period picker offers the running period and the
 * eleven before it, so a fixed PERIOD fell out of it a year on. PERIOD is two months before the month
 * of two days ago (the running period and the latest closed one are never PERIOD, even in a month's
 * first BILLING_CLOSE_DELAY_SECONDS), OTHER_PERIOD the month before it. UTC: the bridge's billing time zone.
 */
const RECENT_MONTH = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 7);
export const PERIOD = addMonths(RECENT_MONTH, -2);
export const OTHER_PERIOD = addMonths(RECENT_MONTH, -3);
/** PERIOD's first day, the first day after it and its last day (`YYYY-MM-DD`). */
export const PERIOD_START = `${PERIOD}-01`;
export const PERIOD_END = `${addMonths(PERIOD, 1)}-01`;
export const PERIOD_LAST_DAY = new Date(Date.parse(`${PERIOD_END}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
/** A day of PERIOD (`YYYY-MM-DD`). */
export const periodDay = (day: number): string => `${PERIOD}-${String(day).padStart(2, '0')}`;
/**
 * The quarterly tenant's quarter holding OTHER_PERIOD and PERIOD (from the 15th of the month before
 * OTHER_PERIOD) and the quarter before it: both among the twelve its picker offers.
 */
export const QUARTER = { start: `${addMonths(PERIOD, -2)}-15`, end: `${addMonths(PERIOD, 1)}-15`, lastDay: `${addMonths(PERIOD, 1)}-14` };
export const EARLIER_QUARTER = { start: `${addMonths(PERIOD, -5)}-15`, lastDay: `${addMonths(PERIOD, -2)}-14` };
/** True for the start of one of the quarterly tenant's quarters: a 15th, three, six, ... months from QUARTER's. */
export function isQuarterStart(label: string): boolean {
  return /^\d{4}-\d{2}-15$/.test(label) && (Number(label.slice(5, 7)) - Number(QUARTER.start.slice(5, 7))) % 3 === 0;
}

/** `YYYY-MM` plus `months` (may be negative). */
export function addMonths(month: string, months: number): string {
  const [year, monthOfYear] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(year, monthOfYear - 1 + months, 1)).toISOString().slice(0, 7);
}
export const INVOICE_ID = 4242;
/** A second tenant billed quarterly from the 15th (its own cycle, #16), for the period picker. */
export const CYCLE_SERVICE_ID = 8803;
export const CYCLE_DOMAIN = 'cycle-tenant.pbx.example.net';
/** The WHMCS admin the stand-in's session is logged in as. */
export const ADMIN_USERNAME = 'ada.admin';
/** As FusionPBX stores it (the tenant's plan names no country, so it is shown as stored). */
export const DID = '4930123450';
/** The stand-in's CSRF token (WHMCS makes one per session). */
export const CSRF_TOKEN = 'standin-csrf-9f2c4b';

export interface WhmcsPages {
  bridge: Bridge;
  phpUrl: string;
  moduleLog: string;
  adminToken: string;
  webhookSecret: string;
  stop(): Promise<void>;
  /**
   * Restarts the PHP stand-in pointed at another bridge URL (e.g. a closed port: "the bridge is down"),
   * with the install's `constants` changed as given (e.g. a lower ICTVOIP_TOTAL_TIMEOUT).
   */
  withBridgeAt<T>(baseUrl: string, work: (phpUrl: string) => Promise<T>, constants?: Record<string, number>): Promise<T>;
}

interface StandinConfig {
  server: Record<string, unknown>;
  /** The logged-in client's services (WHMCS shows a product page only to its owner). */
  services: Record<string, unknown>[];
  addon: Record<string, unknown>;
  serverModule: string;
  addonModule: string;
  smarty: string;
  compileDir: string;
  moduleLog: string;
  constants: Record<string, number>;
  admins: Record<string, string>;
  /** The session's CSRF token: WHMCS gives it to every client-area template as $token and checks it with check_token(). */
  csrfToken: string;
}

/** Two calls per page, so paging is visible with the few seeded calls. */
export const PAGE_SIZE = 2;

async function startPhp(config: StandinConfig, dir: string): Promise<{ url: string; process: ChildProcess }> {
  const file = path.join(dir, `standin-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(config));
  const port = await freePort();
  const child = spawn('php', ['-d', 'display_errors=stderr', '-d', 'error_reporting=E_ALL', '-S', `127.0.0.1:${port}`, ROUTER], {
    // One process: with PHP_CLI_SERVER_WORKERS the forked workers outlive a SIGTERM to the parent.
    env: { ...process.env, ICTVOIP_STANDIN_CONFIG: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  child.stdout?.resume();
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`php -S exited: ${stderr.join('')}`);
      // The body is read: an unread answer keeps its socket open past php's exit and the jest worker alive.
      return fetch(`${url}/nothing`)
        .then((response) => response.arrayBuffer())
        .then(() => true)
        .catch(() => false);
    },
    10000,
    'php -S listening',
  );
  return { url, process: child };
}

async function stopPhp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** $params as WHMCS 8 passes them to a server module for a service of client 42 and the server record. */
function serviceParams(serviceId = SERVICE_ID, domain = DOMAIN): Record<string, unknown> {
  return {
    whmcsVersion: '8.13.1-release.1',
    accountid: serviceId,
    serviceid: serviceId,
    userid: 42,
    pid: 7,
    serverid: 3,
    domain,
    username: 'pagespbx',
    password: 'Client-Service-Pass-9',
    producttype: 'other',
    moduletype: 'ictvoip',
    status: 'Active',
    configoption1: '10',
    configoption6: '100',
    configoptions: {},
    customfields: {},
    clientsdetails: { userid: 42, id: 42, firstname: 'Ada', lastname: 'Lovelace', email: 'ada@acme.example', language: 'english' },
  };
}

function serverParams(baseUrl: string, secret: string): Record<string, unknown> {
  const url = URL.canParse(baseUrl) ? new URL(baseUrl) : null;
  return { server: true, serverip: url?.hostname ?? '', serverhostname: url?.hostname ?? '', serverusername: '', serverpassword: '', serveraccesshash: secret, serversecure: false, serverport: Number(url?.port ?? 0) };
}

/** Calls of PERIOD (one answered and rated, one unrated, one not billable, one not yet rated, a hostile one) and one of OTHER_PERIOD. */
async function seedCalls(bridge: Bridge, domainUuid: string): Promise<void> {
  const calls = [
    { at: `${periodDay(3)} 09:00:00+00`, from: '100', name: 'Reception', to: '+4930123456', billsec: 125, charge: { status: 'rated', amount: '0.125000', reason: null } },
    { at: `${periodDay(4)} 10:00:00+00`, from: '100', name: 'Reception', to: '+88212345678', billsec: 60, charge: { status: 'unrated', amount: null, reason: 'no rate for +88212345678 in deck retail' } },
    { at: `${periodDay(5)} 11:00:00+00`, from: '+4930999999', name: 'Caller', to: '100', billsec: 0, charge: { status: 'not_billable', amount: null, reason: 'inbound calls are not billed' } },
    { at: `${periodDay(6)} 12:00:00+00`, from: '101', name: 'Desk', to: '+4940111111', billsec: 30, charge: null },
    { at: `${periodDay(7)} 13:00:00+00`, from: HOSTILE_NUMBER, name: HOSTILE_NAME, to: '+4940222222', billsec: 42, charge: { status: 'rated', amount: '0.042000', reason: null } },
    { at: `${OTHER_PERIOD}-20 08:00:00+00`, from: '100', name: 'Reception', to: '+4989777777', billsec: 61, charge: { status: 'rated', amount: '0.061000', reason: null } },
  ];
  for (const [index, call] of calls.entries()) {
    const uuid = randomUUID();
    await bridge.fusion.query(
      `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_name, caller_id_number, destination_number,
                              start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause)
       values ($1, $2, $3, $4, 'a', $5, $6, $7, $8::timestamptz, $8::timestamptz + interval '3 seconds', $8::timestamptz + make_interval(secs => $9 + 3), $9 + 3, $9, 'NORMAL_CLEARING')`,
      [uuid, domainUuid, DOMAIN, call.to === '100' ? 'inbound' : 'outbound', call.name, call.from, call.to, call.at, call.billsec],
    );
    if (!call.charge) continue;
    await bridge.api!.deps.pool.query(
      `insert into cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, currency, status, reason, period)
       values ($1, $2, $3, $4::timestamptz, 'outbound', $5, $6, $7, $8, $9, $10)`,
      [uuid, SERVICE_ID, DOMAIN, call.at, call.billsec, call.charge.amount, call.charge.amount ? 'EUR' : null, call.charge.status, call.charge.reason, call.at.slice(0, 7)],
    );
    void index;
  }
}

/** Extension 100's mailbox (two new messages, one saved), a DID ringing extension 100, and prepaid credit running low. */
async function seedVoicemailNumbersCredit(bridge: Bridge, domainUuid: string): Promise<void> {
  // The slim FusionPBX fixture has no voicemail messages table: add FusionPBX's own (schema-5.1.sql) where missing.
  await bridge.fusion.query(`create table if not exists v_voicemail_messages (
    domain_uuid uuid, voicemail_message_uuid uuid primary key, voicemail_uuid uuid, created_epoch numeric, read_epoch numeric, caller_id_name text,
    caller_id_number text, message_length numeric, message_status text, message_priority text, message_intro_base64 text, message_base64 text,
    message_transcription text, insert_date timestamptz, insert_user uuid, update_date timestamptz, update_user uuid)`);
  const mailbox = randomUUID();
  await bridge.fusion.query("insert into v_voicemails (voicemail_uuid, domain_uuid, voicemail_id, voicemail_password, voicemail_enabled) values ($1, $2, '100', '1234', 'true')", [mailbox, domainUuid]);
  for (const status of [null, '', 'saved']) {
    await bridge.fusion.query(
      `insert into v_voicemail_messages (voicemail_message_uuid, domain_uuid, voicemail_uuid, created_epoch, caller_id_number, message_length, message_status)
       values ($1, $2, $3, 1790000000, '+4930999999', 12, $4)`,
      [randomUUID(), domainUuid, mailbox, status],
    );
  }
  await bridge.fusion.query(
    `insert into v_destinations (destination_uuid, domain_uuid, destination_type, destination_number, destination_context, destination_actions, destination_enabled, destination_description)
     values ($1, $2, 'inbound', $3, 'public', $4, 'true', $5)`,
    [randomUUID(), domainUuid, DID, JSON.stringify([{ destination_app: 'transfer', destination_data: `100 XML ${DOMAIN}` }]), HOSTILE_NAME],
  );
  await bridge.api!.deps.pool.query(
    `insert into credit_states (service_id, client_id, state, crossing, restriction, credit, credit_limit, usage, available, threshold, currency, last_checked_at, last_transition, last_transition_at)
     values ($1, 42, 'low', 1, 'outbound', 5.5, null, 2, 3.5, 5, 'EUR', now(), 'ok→low', now())`,
    [SERVICE_ID],
  );
  await bridge.api!.deps.pool.query(`insert into credit_mails (service_id, kind, crossing, client_id, template, state) values ($1, 'low', 1, 42, 'ictVoIP Low Credit', 'sent')`, [SERVICE_ID]);
}

async function seedCycleTenant(bridge: Bridge): Promise<void> {
  await seedTenant(bridge.api!.deps.pool, bridge.fusion, CYCLE_SERVICE_ID, CYCLE_DOMAIN, { maxExtensions: 5 });
  await bridge.api!.deps.pool.query(
    `insert into service_billing_cycles (service_id, valid_from, cycle, anchor, whmcs_cycle, next_due, source) values ($1, '-infinity', 'quarterly', $2, 'Quarterly', $3, 'event')`,
    [CYCLE_SERVICE_ID, QUARTER.start, QUARTER.end],
  );
}

async function seedPhonesAndBatches(bridge: Bridge, domainUuid: string): Promise<void> {
  await bridge.fusion.query("insert into v_extensions (extension_uuid, domain_uuid, extension, user_context, enabled, effective_caller_id_name, insert_date) values ($1, $2, '101', $3, 'true', $4, now())", [
    randomUUID(),
    domainUuid,
    DOMAIN,
    HOSTILE_NAME,
  ]);
  await bridge.api!.deps.pool.query(
    `insert into registrations (server, domain, extension, service_id, registered, lost, user_agent, first_seen, last_seen, last_change, last_polled_at)
     values ('default', $1, '100', $2, true, false, $3, '2026-10-01T08:00:00Z', now(), '2026-10-01T08:00:00Z', now()),
            ('default', $1, '101', $2, false, true, 'Yealink SIP-T46U', '2026-09-01T08:00:00Z', '2026-10-02T07:00:00Z', '2026-10-02T07:05:00Z', now())`,
    [DOMAIN, SERVICE_ID, 'Grandstream GXP2170 <script>x</script>'],
  );
  await bridge.api!.deps.pool.query(
    `insert into registration_history (server, service_id, domain, extension, transition, at, missing_since, figures)
     values ('default', $1, $2, '101', 'lost', '2026-10-02T07:05:00Z', '2026-10-02T07:00:00Z', '{}')`,
    [SERVICE_ID, DOMAIN],
  );
  await bridge.api!.deps.pool.query(
    `insert into billing_batches (batch_id, service_id, client_id, period, currency, state, total, line_amount, call_count, billed_seconds, description, push_token, whmcs_billable_id, whmcs_invoice_id, pushed_at)
     values ($1, $2, 77, $3, 'EUR', 'pushed', 0.061, 0.06, 1, 61, 'Calls ' || $3::text, $4, 9001, $5, now()),
            ($6, 8802, 78, $3, 'EUR', 'failed', 1.5, 1.50, 3, 300, 'Calls ' || $3::text, $7, null, null, null)`,
    [`b-${SERVICE_ID}-${OTHER_PERIOD}`, SERVICE_ID, OTHER_PERIOD, `tok-${randomUUID()}`, INVOICE_ID, `b-8802-${OTHER_PERIOD}`, `tok-${randomUUID()}`],
  );
}

export async function startWhmcsPages(): Promise<WhmcsPages> {
  assertPhp();
  const smarty = smartyClass();
  // Service billing periods (#16): the cycle tenant's periods follow its cycle; a tenant whose cycle was never seen keeps calendar months.
  const bridge = await startBridge({ BILLING_PERIODS: 'service' });
  await bridge.startApi();
  const { domainUuid } = await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE_ID, DOMAIN, { maxExtensions: 10, includedMinutes: 100 });
  await seedCalls(bridge, domainUuid);
  await seedPhonesAndBatches(bridge, domainUuid);
  await seedVoicemailNumbersCredit(bridge, domainUuid);
  await seedCycleTenant(bridge);
  const dir = mkdtempSync(path.join(tmpdir(), 'ictvoip-whmcs-pages-'));
  const compileDir = path.join(dir, 'templates_c');
  mkdirSync(compileDir);
  const moduleLog = path.join(dir, 'module-log.jsonl');
  writeFileSync(moduleLog, '');
  const webhookSecret = bridge.config.webhook.secrets[0]!;
  const adminToken = bridge.config.adminToken;
  const configFor = (baseUrl: string, constants: Record<string, number> = {}): StandinConfig => ({
    server: serverParams(baseUrl, webhookSecret),
    // The quarterly service too, billed by its own cycle (BILLING_PERIODS=service).
    services: [serviceParams(), serviceParams(CYCLE_SERVICE_ID, CYCLE_DOMAIN)],
    addon: { bridgeUrl: baseUrl, adminToken },
    serverModule: SERVER_MODULE,
    addonModule: ADDON_MODULE,
    smarty,
    compileDir,
    moduleLog,
    constants: { ICTVOIP_CALLS_PAGE_SIZE: PAGE_SIZE, ICTVOIP_CONNECT_TIMEOUT: 2, ICTVOIP_TOTAL_TIMEOUT: 10, ...constants },
    admins: { '1': ADMIN_USERNAME },
    csrfToken: CSRF_TOKEN,
  });
  const php = await startPhp(configFor(bridge.url), dir);
  return {
    bridge,
    phpUrl: php.url,
    moduleLog,
    adminToken,
    webhookSecret,
    async withBridgeAt(baseUrl, work, constants) {
      const other = await startPhp(configFor(baseUrl, constants), dir);
      try {
        return await work(other.url);
      } finally {
        await stopPhp(other.process);
      }
    },
    async stop() {
      await stopPhp(php.process);
      await bridge.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function readModuleLog(file: string): string {
  return readFileSync(file, 'utf8');
}

/**
 * A job that really failed on the maintenance queue (a BullMQ worker of the test threw), for the
 * dashboard's failed-job list and its Retry button. Returns the queue, for the caller to close.
 */
export async function failedMaintenanceJob(pages: WhmcsPages, jobId: string, reason: string): Promise<{ queue: Queue; close(): Promise<void> }> {
  return failedJob(pages, QUEUE_NAMES.maintenance, 'maintenance.test-failure', {}, jobId, reason);
}

/** A job of `queueName` that failed (its one attempt threw `reason`), as the dashboard lists it. */
export async function failedJob(
  pages: WhmcsPages,
  queueName: QueueName,
  name: string,
  data: Record<string, unknown>,
  jobId: string,
  reason: string,
): Promise<{ queue: Queue; close(): Promise<void> }> {
  const connection = redisConnection();
  const queue = new Queue(queueName, { connection, prefix: pages.bridge.prefix });
  const worker = new Worker(
    queueName,
    async () => {
      throw new Error(reason);
    },
    { connection, prefix: pages.bridge.prefix },
  );
  try {
    const job = await queue.add(name, data, { jobId, attempts: 1 });
    await waitFor(async () => (await job.getState()) === 'failed', 15000, `job ${jobId} failed`);
  } finally {
    await worker.close();
  }
  return {
    queue,
    async close() {
      await queue.remove(jobId);
      await queue.close();
      await connection.quit();
    },
  };
}
