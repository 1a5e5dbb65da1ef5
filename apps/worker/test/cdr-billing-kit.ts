/** Shared set-up for the cdr-* and billing-* tests: a bridge, tenants, a rate deck and synthetic CDRs. */
import { randomUUID } from 'node:crypto';
import { importRateDeck, nextPeriod } from '@ictvoip/store';
import { buildEvent, postWebhook, startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { startBridge, waitFor, type Bridge } from './harness';
import type { WorkerDeps } from '../src';
import { closeBillingPeriods, invoicePrepaidUsage, pushBillingBatch } from '../src';
import type { CloseOutcome } from '../src/jobs/billing/close-periods';
import type { PushResult } from '../src/jobs/billing/push-batch';

export const DECK_CSV = [
  'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment',
  '1,USA,0.010000,0,60,60',
  '1212,USA New York,0.013700,0,60,60',
  '49,Germany,0.021000,0,60,60',
].join('\n');

/** Per-minute rate (micro-units) of the longest prefix in DECK_CSV, for expected amounts computed from the input. */
export function rateMicroFor(e164Digits: string): bigint {
  const rates = DECK_CSV.split('\n')
    .slice(1)
    .map((line) => line.split(','));
  const match = rates.filter(([prefix]) => e164Digits.startsWith(prefix as string)).sort((a, b) => (b[0] as string).length - (a[0] as string).length)[0];
  if (!match) throw new Error(`no rate for ${e164Digits} in the test deck`);
  const [whole, fraction] = (match[2] as string).split('.');
  return BigInt(whole as string) * 1_000_000n + BigInt((fraction ?? '').padEnd(6, '0'));
}

/** 60/60 increments, no connection fee: whole started minutes at the rate. */
export function expectedMicro(e164Digits: string, billsec: number, ratePerMinute = rateMicroFor(e164Digits)): bigint {
  if (billsec <= 0) return 0n;
  return BigInt(Math.ceil(billsec / 60)) * ratePerMinute;
}

export function microToDecimal(micro: bigint, places = 6): string {
  const negative = micro < 0n;
  const abs = negative ? -micro : micro;
  const text = `${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, '0').slice(0, places)}`;
  return negative ? `-${text}` : text;
}

export function decimalToMicro(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  const micro = BigInt(whole as string) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
  return negative ? -micro : micro;
}

/** Half-up to cents, in micro-units. */
export function roundCents(micro: bigint): bigint {
  return ((micro + 5_000n) / 10_000n) * 10_000n;
}

export interface Tenant {
  serviceId: number;
  clientId: number;
  domainName: string;
  domainUuid: string;
}

export interface CdrInput {
  uuid?: string;
  start: string;
  billsec: number;
  destination?: string;
  direction?: string;
  leg?: string;
  hangupCause?: string;
}

export interface BillingKit {
  bridge: Bridge;
  deps: WorkerDeps;
  whmcs: WhmcsStandin;
  addTenant(options?: { includedMinutes?: number; rateDeck?: string; desiredState?: string }): Promise<Tenant>;
  insertCdr(tenant: Tenant, cdr: CdrInput): Promise<string>;
  close(): Promise<void>;
}

export const BASE_ENV: Record<string, string> = {
  BILLING_TIMEZONE: 'UTC',
  CDR_LOOKBACK_SECONDS: '3600',
  CDR_SYNC_PAGE_SIZE: '5',
  BILLING_CLOSE_DELAY_SECONDS: '3600',
  BILLING_RESEND_AFTER_SECONDS: '0',
  BILLING_MAX_ATTEMPTS: '50',
  WHMCS_API_TIMEOUT_MS: '400',
  LOG_LEVEL: 'warn',
};

let nextService = 1000;

export async function startBillingKit(env: Record<string, string> = {}, standin?: Parameters<typeof startWhmcsStandin>[0]): Promise<BillingKit> {
  const whmcs = await startWhmcsStandin(standin);
  const bridge = await startBridge({ ...BASE_ENV, WHMCS_API_URL: whmcs.url, WHMCS_API_IDENTIFIER: whmcs.identifier, WHMCS_API_SECRET: whmcs.secret, ...env });
  const worker = await bridge.startWorker({ schedulers: false });
  const deps = worker.deps;
  const imported = await importRateDeck(deps.pool, 'std', DECK_CSV, { currency: 'USD', numberingPlan: { countryCode: '1', nationalPrefix: '1', internationalPrefixes: ['011'] } });
  if (!imported.ok) throw new Error('test deck did not import');
  return {
    bridge,
    deps,
    whmcs,
    async addTenant(options = {}) {
      const client = whmcs.addClient();
      const serviceId = nextService++;
      whmcs.addService({ id: serviceId, clientid: client.id });
      const domainName = `t${serviceId}.pbx.example.net`;
      const domainUuid = randomUUID();
      await bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [domainUuid, domainName]);
      const plan = { rateDeck: options.rateDeck ?? 'std', includedMinutes: options.includedMinutes ?? 0 };
      await deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan, created_at) VALUES ($1, $2, $3, $4, $5, '2024-12-01T00:00:00Z')`, [
        serviceId,
        client.id,
        domainName,
        options.desiredState ?? 'active',
        JSON.stringify(plan),
      ]);
      return { serviceId, clientId: client.id, domainName, domainUuid };
    },
    async insertCdr(tenant, cdr) {
      const uuid = cdr.uuid ?? randomUUID();
      await bridge.fusion.query(
        `INSERT INTO v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, destination_number, caller_destination, start_stamp, billsec, hangup_cause)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9)`,
        [
          uuid,
          tenant.domainUuid,
          tenant.domainName,
          cdr.direction ?? 'outbound',
          cdr.leg ?? 'a',
          cdr.destination ?? '12125550100',
          cdr.start,
          cdr.billsec,
          cdr.hangupCause ?? 'NORMAL_CLEARING',
        ],
      );
      return uuid;
    },
    async close() {
      await bridge.close();
      await whmcs.close();
    },
  };
}

type StandinOptions = Parameters<typeof startWhmcsStandin>[0];

export interface UseBillingKitOptions {
  /** The WHMCS stand-in's options (a seed, email templates). */
  standin?: StandinOptions;
  /** More set-up with the kit, in the same beforeAll (so under the same timeout) before any test runs. */
  setUp?: (kit: BillingKit) => Promise<unknown>;
  /** The beforeAll's timeout. */
  timeout?: number;
}

/**
 * One billing kit for the file (or describe block) this is called in: started in a beforeAll, closed in an
 * afterAll, the boilerplate each billing test file used to repeat. `env` may be a function when it depends on
 * something an earlier beforeAll made (a port). What comes back stands for the kit, which exists only once the
 * beforeAll has run: using it before then, or when it did not start, throws.
 */
export function useBillingKit(env: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>) = {}, options: UseBillingKitOptions = {}): BillingKit {
  let kit: BillingKit | undefined;
  beforeAll(async () => {
    kit = await startBillingKit(typeof env === 'function' ? await env() : env, options.standin);
    await options.setUp?.(kit);
  }, options.timeout ?? 30000);
  afterAll(async () => {
    await kit?.close();
  });
  const started = (): BillingKit => {
    if (!kit) throw new Error('the billing kit is used before its beforeAll started it');
    return kit;
  };
  // A stand-in rather than an accessor function: the test bodies keep reading `kit.deps`, `kit.addTenant(…)` as before.
  return new Proxy({} as BillingKit, {
    get: (_target, key) => Reflect.get(started(), key),
    set: (_target, key, value) => Reflect.set(started(), key, value),
  });
}

/** A `setUp` for useBillingKit: FusionPBX's v_xml_cdr with an index on insert_date, which lets the sync also read CDRs imported late. */
export async function indexInsertDate(kit: BillingKit): Promise<void> {
  await kit.bridge.fusion.query('CREATE INDEX ON v_xml_cdr (domain_uuid, insert_date)');
}

/** A `setUp` for useBillingKit: the API up as well (for webhooks and the API's routes). */
export async function startApi(kit: BillingKit): Promise<void> {
  await kit.bridge.startApi();
}

/** A signed WHMCS webhook event of `action` for service `serviceId` of client `clientId` (a one-extension plan on the test deck). */
export function webhookEvent(serviceId: number, clientId: number, action: string): Record<string, unknown> {
  const base = buildEvent({ serviceId, action, plan: { maxExtensions: 1, firstExtension: 100, rateDeck: 'std', includedMinutes: 0 } });
  base.client = { ...(base.client as Record<string, unknown>), id: clientId };
  if (action !== 'create') delete base.secrets;
  return base;
}

/** `body` posted to the kit's webhook, waiting up to 20 s for its outcome (the API must be up: see startApi). */
export const sendWebhook = (kit: BillingKit, body: Record<string, unknown>) => postWebhook(kit.bridge.url, JSON.stringify(body), { query: '?wait=20' });

/** A WHMCS client and its service created through the signed webhook, as the billing kit's tenant. */
export async function tenantThroughWebhook(kit: BillingKit, serviceId: number) {
  const client = kit.whmcs.addClient();
  expect((await sendWebhook(kit, webhookEvent(serviceId, client.id, 'create'))).body.result).toBe('success');
  const domainName = `t${serviceId}.pbx.example.net`;
  const { rows } = await kit.bridge.fusion.query<{ domain_uuid: string }>('SELECT domain_uuid::text FROM v_domains WHERE domain_name = $1', [domainName]);
  return { client, tenant: { serviceId, clientId: client.id, domainName, domainUuid: rows[0]!.domain_uuid } };
}

/** The env of the tests that close billing periods `delaySeconds` after they end (the look-back window as long as the delay). */
export function closeDelayEnv(delaySeconds: number): Record<string, string> {
  return { WHMCS_API_TIMEOUT_MS: '10000', CDR_LOOKBACK_SECONDS: String(delaySeconds), BILLING_CLOSE_DELAY_SECONDS: String(delaySeconds) };
}

/** What the final-bill tests that drive the bridge through WHMCS webhooks use. */
export interface WebhookBillingKit {
  /** Stands for the kit once its beforeAll started it (see useBillingKit). */
  readonly kit: BillingKit;
  /** `body` posted to the kit's webhook (sendWebhook). */
  readonly send: (body: Record<string, unknown>) => ReturnType<typeof sendWebhook>;
  /** A tenant created through the signed webhook (tenantThroughWebhook). */
  readonly createdThroughWebhook: (serviceId: number) => ReturnType<typeof tenantThroughWebhook>;
}

/** One billing kit for the file with the API up and periods closed `delaySeconds` after they end (closeDelayEnv), driven by webhooks. */
export function useWebhookBillingKit(delaySeconds: number): WebhookBillingKit {
  const kit = useBillingKit(closeDelayEnv(delaySeconds), { setUp: startApi });
  return { kit, send: (body) => sendWebhook(kit, body), createdThroughWebhook: (serviceId) => tenantThroughWebhook(kit, serviceId) };
}

/** A moment `seconds` after calendar period `period`'s close: the period's end plus the close delay `delaySeconds`. */
export function afterPeriodClose(period: string, seconds: number, delaySeconds: number): Date {
  return new Date(new Date(`${nextPeriod(period)}-01T00:00:00Z`).getTime() + (delaySeconds + seconds) * 1000);
}

/** The 15th of the month `months` after now's cycle period starts (UTC), as a date and a period label: the cycle periods of a monthly service due on the 15th. */
export function cycleStart(months: number): { at: Date; label: string } {
  const now = new Date();
  const startMonth = now.getUTCDate() >= 15 ? now.getUTCMonth() : now.getUTCMonth() - 1;
  const at = new Date(Date.UTC(now.getUTCFullYear(), startMonth + months, 15));
  return { at, label: at.toISOString().slice(0, 10) };
}

/** Sum of a service's rated charge amounts, exact, read from the database as text. */
export async function chargedMicro(deps: WorkerDeps, serviceId: number): Promise<bigint> {
  const { rows } = await deps.pool.query<{ amount: string | null }>(`SELECT amount::text FROM cdr_charges WHERE service_id = $1 AND status = 'rated'`, [serviceId]);
  return rows.reduce((sum, row) => sum + decimalToMicro(row.amount as string), 0n);
}

/** A tenant (service `serviceId`) whose WHMCS service has the given cycle and next due date, and the given plan. */
export async function addCycleTenant(kit: BillingKit, serviceId: number, cycle: string, nextduedate: string, plan: Record<string, unknown> = {}): Promise<Tenant> {
  const client = kit.whmcs.addClient();
  kit.whmcs.addService({ id: serviceId, clientid: client.id, billingcycle: cycle, nextduedate });
  const domainName = `t${serviceId}.pbx.example.net`;
  const domainUuid = randomUUID();
  await kit.bridge.fusion.query(`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, $2, 'true')`, [domainUuid, domainName]);
  await kit.deps.pool.query(
    `INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan, created_at) VALUES ($1, $2, $3, 'active', $4, '2024-01-01T00:00:00Z')`,
    [serviceId, client.id, domainName, JSON.stringify({ rateDeck: 'std', ...plan })],
  );
  return { serviceId, clientId: client.id, domainName, domainUuid };
}

/** The scheduled close as it runs at `at`, and every push it enqueued run to its end (completed or failed). */
export async function closeAndFinishPushes(kit: BillingKit, at: Date): Promise<CloseOutcome> {
  const close = await closeBillingPeriods(kit.deps, at);
  await waitFor(
    async () => {
      const states = await Promise.all(close.jobIds.map(async (id) => (await kit.deps.queues.billing.getJob(id))?.getState()));
      return states.every((state) => state === 'completed' || state === 'failed');
    },
    15000,
    'the pushes the close enqueued',
  );
  return close;
}

/** The push jobs `close` enqueued for one service, each with what it returned (after closeAndFinishPushes). */
export async function servicePushes(kit: BillingKit, close: CloseOutcome, serviceId: number): Promise<{ jobId: string; result: PushResult | undefined }[]> {
  const mine = close.jobIds.filter((id) => id.startsWith(`billing-push-${serviceId}-`));
  return Promise.all(mine.map(async (jobId) => ({ jobId, result: (await kit.deps.queues.billing.getJob(jobId))?.returnvalue as PushResult | undefined })));
}

/**
 * One service's bill of `period` pushed at once, as the close's push job does it (for tests outside the
 * worker app, e.g. the CLI's, which do not import the worker).
 */
export const pushBill = (kit: BillingKit, serviceId: number, period: string): Promise<PushResult> => pushBillingBatch(kit.deps, serviceId, period);

/** One prepaid service's usage invoice made at once as the daily prepaid run would make it at `now`. */
export const invoicePrepaid = (kit: BillingKit, serviceId: number, now: Date): ReturnType<typeof invoicePrepaidUsage> => invoicePrepaidUsage(kit.deps, serviceId, now);
