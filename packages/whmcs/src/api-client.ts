import axios, { type AxiosInstance } from 'axios';
import { classifyRefusal, WhmcsApiError, WhmcsInputError, WhmcsTransportError, type WhmcsTransportReason } from './api-errors';
import { encodeWhmcsForm, phpSerializeStringMap, type WhmcsParams } from './api-form';
import { asRecord, DATE_PATTERN, listOf, MONEY_PATTERN, QUANTITY_PATTERN, toBool, toDecimal, toInt, toText, type WhmcsRecord } from './api-normalize';
import type {
  WhmcsBillableItemInput,
  WhmcsBilledItem,
  WhmcsClientDetails,
  WhmcsClientProduct,
  WhmcsClientProductsQuery,
  WhmcsDetails,
  WhmcsInvoice,
  WhmcsInvoiceSummary,
  WhmcsInvoicesQuery,
  WhmcsList,
  WhmcsUpdateClientProductInput,
} from './api-types';

/** pino-compatible subset; only action names, timings and outcomes are ever logged. */
export interface WhmcsApiLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface WhmcsApiClientOptions {
  /** WHMCS_API_URL: the full `…/includes/api.php` URL, or the WHMCS base URL */
  url: string;
  identifier: string;
  secret: string;
  /** `$api_access_key` from configuration.php, to pass WHMCS's API IP restriction */
  accessKey?: string;
  /** per attempt, default 30 000 ms (WHMCS's own sample uses 30 s) */
  timeoutMs?: number;
  /** extra attempts after a transport failure: reads always, writes only when nothing reached WHMCS; default 2 */
  retries?: number;
  /** first backoff delay, doubled each retry, default 250 ms */
  retryDelayMs?: number;
  /** skip WhmcsDetails detection (e.g. "8.13.1") */
  whmcsVersion?: string;
  logger?: WhmcsApiLogger;
}

export interface WhmcsCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Actions that only read, so a transport failure may be retried without side effects. */
export const WHMCS_READ_ACTIONS: ReadonlySet<string> = new Set([
  'WhmcsDetails',
  'GetClientsProducts',
  'GetClientsDetails',
  'GetInvoices',
  'GetInvoice',
  'GetModuleQueue',
  'GetProducts',
  'GetServers',
]);

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export function whmcsApiEndpoint(url: string): string {
  const parsed = new URL(url);
  if (!parsed.pathname.endsWith('.php')) parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/includes/api.php`;
  parsed.search = '';
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/** AddBillableItem takes `unit`+`quantity` from 8.2 on, `hours` before. */
export function usesUnitQuantity(version: string): boolean {
  const [major, minor] = version.split(/[.-]/).map((part) => Number.parseInt(part, 10));
  if (!Number.isFinite(major)) return true;
  return major > 8 || (major === 8 && (minor || 0) >= 2);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Client for WHMCS's external API (`includes/api.php`): form-encoded POST, identifier + secret,
 * `responsetype=json`. Refusals become WhmcsApiError, everything else WhmcsTransportError telling
 * whether the action may have taken effect. Only read actions are retried.
 */
export class WhmcsApiClient {
  readonly endpoint: string;
  private readonly http: AxiosInstance;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private version: string | undefined;

  constructor(private readonly options: WhmcsApiClientOptions) {
    if (!options.identifier) throw new WhmcsInputError('identifier', 'WHMCS API identifier is empty');
    if (!options.secret) throw new WhmcsInputError('secret', 'WHMCS API secret is empty');
    this.endpoint = whmcsApiEndpoint(options.url);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.version = options.whmcsVersion;
    this.http = axios.create({
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      maxRedirects: 0,
    });
  }

  /** Any action; resolves with WHMCS's JSON on `result: success`. */
  async call(action: string, params: WhmcsParams = {}, options: WhmcsCallOptions = {}): Promise<WhmcsRecord> {
    const readOnly = WHMCS_READ_ACTIONS.has(action);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.attempt(action, params, options);
      } catch (error) {
        // A read may always be repeated; a write only when it provably never reached WHMCS.
        const repeatable = error instanceof WhmcsTransportError && error.reason !== 'aborted' && (readOnly || !error.mayHaveTakenEffect);
        const retry = repeatable && attempt <= this.retries;
        if (!retry) throw error;
        this.options.logger?.warn({ action, attempt, reason: (error as WhmcsTransportError).reason }, 'WHMCS call failed, retrying');
        await delay(this.retryDelayMs * 2 ** (attempt - 1), options.signal);
        if (options.signal?.aborted) throw new WhmcsTransportError(action, 'aborted', false, 'cancelled before retry');
      }
    }
  }

  async whmcsDetails(options?: WhmcsCallOptions): Promise<WhmcsDetails> {
    const reply = await this.call('WhmcsDetails', {}, options);
    const whmcs = asRecord(reply.whmcs);
    const fullVersion = toText(whmcs.version);
    const version = toText(whmcs.canonicalversion) || fullVersion.split('-')[0];
    this.version = version;
    return { version, fullVersion };
  }

  /** The detected (or configured) WHMCS version, asked once. */
  async detectVersion(options?: WhmcsCallOptions): Promise<string> {
    if (this.version !== undefined) return this.version;
    return (await this.whmcsDetails(options)).version;
  }

  async getClientsProducts(query: WhmcsClientProductsQuery, options?: WhmcsCallOptions): Promise<WhmcsList<WhmcsClientProduct>> {
    const reply = await this.call(
      'GetClientsProducts',
      {
        clientid: query.clientId,
        serviceid: query.serviceId,
        pid: query.pid,
        domain: query.domain,
        limitstart: query.limitStart,
        limitnum: query.limitNum,
      },
      options,
    );
    return { totalResults: toInt(reply.totalresults), items: listOf(reply.products, 'product').map(toClientProduct) };
  }

  /** One service by id, or null when WHMCS has none. */
  async getService(serviceId: number, options?: WhmcsCallOptions): Promise<WhmcsClientProduct | null> {
    const { items } = await this.getClientsProducts({ serviceId }, options);
    return items.find((item) => item.id === serviceId) ?? null;
  }

  async getClientsDetails(clientId: number, options?: WhmcsCallOptions): Promise<WhmcsClientDetails> {
    const reply = await this.call('GetClientsDetails', { clientid: clientId, stats: false }, options);
    const client = { ...reply, ...asRecord(reply.client) };
    return {
      id: toInt(client.id ?? client.userid),
      uuid: toText(client.uuid),
      email: toText(client.email),
      firstName: toText(client.firstname),
      lastName: toText(client.lastname),
      companyName: toText(client.companyname),
      status: toText(client.status),
      currencyId: toInt(client.currency),
      currencyCode: toText(client.currency_code),
    };
  }

  /** Not idempotent in WHMCS: on an ambiguous failure, look for the token with findBilledItem first. */
  async addBillableItem(input: WhmcsBillableItemInput, options?: WhmcsCallOptions): Promise<{ billableId: number }> {
    validateBillableItem(input);
    const quantity = input.quantity ?? '1';
    const version = await this.detectVersion(options);
    const units = usesUnitQuantity(version) ? { unit: 'quantity', quantity } : { hours: quantity };
    const reply = await this.call(
      'AddBillableItem',
      {
        clientid: input.clientId,
        description: input.description,
        amount: input.amount,
        invoiceaction: input.invoiceAction,
        duedate: input.dueDate,
        ...units,
      },
      options,
    );
    const billableId = toInt(reply.billableid);
    if (billableId <= 0) throw new WhmcsTransportError('AddBillableItem', 'invalid_response', true, 'success without a billableid');
    return { billableId };
  }

  async getInvoices(query: WhmcsInvoicesQuery, options?: WhmcsCallOptions): Promise<WhmcsList<WhmcsInvoiceSummary>> {
    const reply = await this.call(
      'GetInvoices',
      {
        userid: query.userId,
        status: query.status,
        orderby: query.orderBy,
        order: query.order,
        limitstart: query.limitStart,
        limitnum: query.limitNum,
      },
      options,
    );
    return { totalResults: toInt(reply.totalresults), items: listOf(reply.invoices, 'invoice').map(toInvoiceSummary) };
  }

  async getInvoice(invoiceId: number, options?: WhmcsCallOptions): Promise<WhmcsInvoice> {
    const reply = await this.call('GetInvoice', { invoiceid: invoiceId }, options);
    return {
      id: toInt(reply.invoiceid ?? reply.id),
      userId: toInt(reply.userid),
      status: toText(reply.status),
      date: toText(reply.date),
      dueDate: toText(reply.duedate),
      subtotal: toDecimal(reply.subtotal),
      total: toDecimal(reply.total),
      balance: toDecimal(reply.balance),
      notes: toText(reply.notes),
      items: listOf(reply.items, 'item').map((item) => ({
        id: toInt(item.id),
        type: toText(item.type),
        relId: toInt(item.relid),
        description: toText(item.description),
        amount: toDecimal(item.amount),
        taxed: toBool(item.taxed),
      })),
    };
  }

  /**
   * Reconciliation for AddBillableItem (WHMCS has no API to read billable items): scans the client's
   * most recent invoices for a line whose description contains `token`.
   */
  async findBilledItem(userId: number, token: string, scanInvoices = 10, options?: WhmcsCallOptions): Promise<WhmcsBilledItem | null> {
    if (token.trim() === '') throw new WhmcsInputError('token', 'a reconciliation token must not be empty');
    const { items } = await this.getInvoices({ userId, orderBy: 'id', order: 'desc', limitNum: scanInvoices }, options);
    for (const summary of items) {
      const invoice = await this.getInvoice(summary.id, options);
      const line = invoice.items.find((item) => item.description.includes(token));
      if (line) return { invoiceId: invoice.id, itemId: line.id, description: line.description, amount: line.amount };
    }
    return null;
  }

  async moduleSuspend(serviceId: number, reason?: string, options?: WhmcsCallOptions): Promise<void> {
    await this.call('ModuleSuspend', { serviceid: serviceId, suspendreason: reason }, options);
  }

  async moduleUnsuspend(serviceId: number, options?: WhmcsCallOptions): Promise<void> {
    await this.call('ModuleUnsuspend', { serviceid: serviceId }, options);
  }

  async logActivity(description: string, clientId?: number, options?: WhmcsCallOptions): Promise<void> {
    await this.call('LogActivity', { description, clientid: clientId }, options);
  }

  /** Writes service fields; `customFields` go as base64 PHP-serialized id → value, as WHMCS expects. */
  async updateClientProduct(serviceId: number, input: WhmcsUpdateClientProductInput, options?: WhmcsCallOptions): Promise<void> {
    if (input.overrideSuspendUntil !== undefined && !DATE_PATTERN.test(input.overrideSuspendUntil)) {
      throw new WhmcsInputError('overrideSuspendUntil', 'must be YYYY-MM-DD');
    }
    const customFields = input.customFields === undefined ? undefined : Buffer.from(phpSerializeStringMap(input.customFields), 'utf8').toString('base64');
    await this.call(
      'UpdateClientProduct',
      {
        serviceid: serviceId,
        status: input.status,
        domain: input.domain,
        notes: input.notes,
        serviceusername: input.serviceUsername,
        suspendreason: input.suspendReason,
        overideautosuspend: input.overrideAutoSuspend === undefined ? undefined : input.overrideAutoSuspend ? 'on' : 'off',
        overidesuspenduntil: input.overrideSuspendUntil,
        customfields: customFields,
      },
      options,
    );
  }

  private async attempt(action: string, params: WhmcsParams, options: WhmcsCallOptions): Promise<WhmcsRecord> {
    const started = Date.now();
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const body = encodeWhmcsForm({
      ...params,
      action,
      identifier: this.options.identifier,
      secret: this.options.secret,
      accesskey: this.options.accessKey,
      responsetype: 'json',
    });
    let status: number;
    let text: string;
    try {
      const response = await this.http.post<string>(this.endpoint, body, { signal });
      status = response.status;
      text = typeof response.data === 'string' ? response.data : '';
    } catch (error) {
      const failure = this.transportFailure(action, error, timeout.aborted);
      this.options.logger?.warn({ action, ms: Date.now() - started, reason: failure.reason }, 'WHMCS API transport failure');
      throw failure;
    }
    const reply = interpretReply(action, status, text);
    this.options.logger?.debug({ action, ms: Date.now() - started, status }, 'WHMCS API call');
    return reply;
  }

  /** Built from the error code only: the axios error holds the form body (with the secret) and is dropped. */
  private transportFailure(action: string, error: unknown, timedOut: boolean): WhmcsTransportError {
    const code = toText(asRecord(error).code);
    if (timedOut) return new WhmcsTransportError(action, 'timeout', true, `no answer from ${this.endpoint} within the timeout`);
    if (axios.isCancel(error) || code === 'ERR_CANCELED') return new WhmcsTransportError(action, 'aborted', true, 'cancelled by the caller');
    if (CONNECT_ERRORS.has(code)) return new WhmcsTransportError(action, 'connect', false, `${code} connecting to ${this.endpoint}`);
    const reason: WhmcsTransportReason = code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? 'timeout' : 'reset';
    return new WhmcsTransportError(action, reason, true, `${code || 'network error'} talking to ${this.endpoint}`);
  }
}

/** `result` (or, for AddBillableItem's documented quirk, `status`) decides; HTTP status only without JSON. */
function interpretReply(action: string, status: number, text: string): WhmcsRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const reply = asRecord(parsed);
  const verdict = toText(reply.result ?? (['success', 'error'].includes(toText(reply.status)) ? reply.status : '')).toLowerCase();
  if (verdict === 'error') {
    const message = toText(reply.message) || 'WHMCS gave no message';
    throw new WhmcsApiError(action, classifyRefusal(message), message, status);
  }
  if (verdict === 'success' && status < 300) return reply;
  if (status >= 500) return failHttp(action, status, true);
  if (status >= 300) return failHttp(action, status, false);
  throw new WhmcsTransportError(action, 'invalid_response', true, `HTTP ${status} without WHMCS's JSON result`, status);
}

function failHttp(action: string, status: number, mayHaveTakenEffect: boolean): never {
  throw new WhmcsTransportError(action, 'http_status', mayHaveTakenEffect, `HTTP ${status}`, status);
}

function validateBillableItem(input: WhmcsBillableItemInput): void {
  if (!Number.isInteger(input.clientId) || input.clientId <= 0) throw new WhmcsInputError('clientId', 'must be a positive integer');
  if (input.description.trim() === '') throw new WhmcsInputError('description', 'must not be empty');
  if (typeof input.amount !== 'string' || !MONEY_PATTERN.test(input.amount)) {
    throw new WhmcsInputError('amount', 'must be a decimal string with at most 2 decimals, e.g. "12.34"');
  }
  if (input.quantity !== undefined && !QUANTITY_PATTERN.test(input.quantity)) throw new WhmcsInputError('quantity', 'must be a decimal string');
  if ((input.invoiceAction === 'duedate' || input.invoiceAction === 'recur') && (input.dueDate === undefined || !DATE_PATTERN.test(input.dueDate))) {
    throw new WhmcsInputError('dueDate', `is required as YYYY-MM-DD for invoiceAction "${input.invoiceAction}"`);
  }
  if (input.dueDate !== undefined && !DATE_PATTERN.test(input.dueDate)) throw new WhmcsInputError('dueDate', 'must be YYYY-MM-DD');
}

function toClientProduct(row: WhmcsRecord): WhmcsClientProduct {
  const customFields: Record<string, string> = {};
  const customFieldIds: Record<string, number> = {};
  for (const field of listOf(row.customfields, 'customfield')) {
    const name = toText(field.name);
    customFields[name] = toText(field.value);
    customFieldIds[name] = toInt(field.id);
  }
  return {
    id: toInt(row.id),
    clientId: toInt(row.clientid),
    orderId: toInt(row.orderid),
    pid: toInt(row.pid),
    name: toText(row.name),
    domain: toText(row.domain),
    serverId: toInt(row.serverid),
    status: toText(row.status),
    billingCycle: toText(row.billingcycle),
    regDate: toText(row.regdate),
    nextDueDate: toText(row.nextduedate),
    recurringAmount: toDecimal(row.recurringamount),
    username: toText(row.username),
    overrideAutoSuspend: toBool(row.overideautosuspend),
    overrideSuspendUntil: toText(row.overidesuspenduntil),
    customFields,
    customFieldIds,
    configOptions: listOf(row.configoptions, 'configoption').map((option) => ({
      id: toInt(option.id),
      option: toText(option.option),
      type: toText(option.type),
      value: toText(option.value),
    })),
  };
}

function toInvoiceSummary(row: WhmcsRecord): WhmcsInvoiceSummary {
  return {
    id: toInt(row.id),
    userId: toInt(row.userid),
    invoiceNum: toText(row.invoicenum),
    date: toText(row.date),
    dueDate: toText(row.duedate),
    total: toDecimal(row.total),
    status: toText(row.status),
    notes: toText(row.notes),
    currencyCode: toText(row.currencycode),
  };
}
