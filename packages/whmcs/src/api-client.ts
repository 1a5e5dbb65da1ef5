import axios, { type AxiosInstance } from 'axios';
import { classifyRefusal, WhmcsApiError, WhmcsInputError, WhmcsTransportError, type WhmcsTransportReason } from './api-errors';
import { encodeWhmcsForm, phpSerializeStringMap, type WhmcsParams } from './api-form';
import { asRecord, DATE_PATTERN, listOf, MONEY_PATTERN, parseMoney, QUANTITY_PATTERN, toBool, toDecimal, toInt, toIsoDate, toText, type WhmcsRecord } from './api-normalize';
import type {
  WhmcsAppliedCredit,
  WhmcsApplyCreditInput,
  WhmcsBillableItemInput,
  WhmcsBilledItem,
  WhmcsClientCredit,
  WhmcsClientDetails,
  WhmcsCreatedInvoice,
  WhmcsCreateInvoiceInput,
  WhmcsClientProduct,
  WhmcsClientProductsQuery,
  WhmcsDetails,
  WhmcsInvoice,
  WhmcsInvoiceSummary,
  WhmcsInvoicesQuery,
  WhmcsList,
  WhmcsSendAdminEmailInput,
  WhmcsSendEmailInput,
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

  /**
   * GetClientsDetails: the documented reply nests the client under `client` (the same fields repeated
   * at the top level are deprecated); `client.credit` is the credit balance ("0.00"), `currency_code`
   * its currency. A `credit` that is present but not a decimal is a malformed reply (typed error).
   */
  async getClientsDetails(clientId: number, options?: WhmcsCallOptions): Promise<WhmcsClientDetails> {
    const reply = await this.call('GetClientsDetails', { clientid: clientId, stats: false }, options);
    const client = { ...reply, ...asRecord(reply.client) };
    const credit = parseMoney(client.credit);
    if (credit === null && client.credit !== undefined && client.credit !== null) {
      throw new WhmcsTransportError('GetClientsDetails', 'invalid_response', false, 'client.credit is not a decimal amount');
    }
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
      credit,
      customFields: listOf(client.customfields, 'customfield').map((field) => ({
        id: toInt(field.id),
        name: toText(field.name ?? field.translated_name),
        value: toText(field.value),
      })),
    };
  }

  /** The client's credit balance for credit control; a reply without a decimal `client.credit` is a typed error. */
  async getClientCredit(clientId: number, options?: WhmcsCallOptions): Promise<WhmcsClientCredit> {
    const details = await this.getClientsDetails(clientId, options);
    if (details.credit === null) throw new WhmcsTransportError('GetClientsDetails', 'invalid_response', false, 'no client.credit in the reply');
    if (details.id !== clientId) throw new WhmcsTransportError('GetClientsDetails', 'invalid_response', false, `asked for client ${clientId}, got ${details.id}`);
    return { clientId: details.id, credit: details.credit, currencyCode: details.currencyCode };
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
      credit: toDecimal(reply.credit),
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

  /**
   * ModuleSuspend runs the module's SuspendAccount and marks the service Suspended with `reason`
   * (shown to staff; WHMCS auto-unsuspends on payment only for its own "Overdue on Payment" reason,
   * so a credit-control reason stays until ModuleUnsuspend). Converge-style: check the status with
   * getService first; repeating it is harmless for the bridge's module. WHMCS's API reference names
   * the service parameter `accountid`; the bridge's reference notes say `serviceid`: both are sent.
   * The documented reply is only `result`; a module failure comes back as `result: error` with the
   * module's message.
   */
  async moduleSuspend(serviceId: number, reason?: string, options?: WhmcsCallOptions): Promise<void> {
    validateId('serviceId', serviceId);
    await this.call('ModuleSuspend', { accountid: serviceId, serviceid: serviceId, suspendreason: reason }, options);
  }

  /** ModuleUnsuspend (`accountid`, see moduleSuspend); reply only `result`. */
  async moduleUnsuspend(serviceId: number, options?: WhmcsCallOptions): Promise<void> {
    validateId('serviceId', serviceId);
    await this.call('ModuleUnsuspend', { accountid: serviceId, serviceid: serviceId }, options);
  }

  /**
   * SendEmail with an existing client email template. `customVars` go base64 of PHP serialize(), the
   * format of WHMCS's documented example (the parameter table only says "array"). The reply is only
   * `result`; "Sending Failed. Please see documentation." covers a bad related id, an empty template,
   * a hook abort and a mailer error, so it is reported as a refusal although a mailer error may
   * have happened after WHMCS accepted the call.
   * Not idempotent and WHMCS has no token to search by: a caller that must not mail twice records the
   * send in its own outbox before calling (keyed like the billing outbox) and, on an outcome-unknown
   * transport error, does not resend blindly (a missing reminder is cheaper than two).
   */
  async sendEmail(input: WhmcsSendEmailInput, options?: WhmcsCallOptions): Promise<void> {
    if (input.templateName.trim() === '') throw new WhmcsInputError('templateName', 'must not be empty');
    validateId('relatedId', input.relatedId);
    const customVars = input.customVars === undefined ? undefined : Buffer.from(phpSerializeStringMap(input.customVars), 'utf8').toString('base64');
    await this.call('SendEmail', { messagename: input.templateName, id: input.relatedId, customvars: customVars }, options);
  }

  /**
   * SendAdminEmail: an admin notification from an admin email template (or a custom subject and HTML
   * message) to the admins with that notification `type` enabled. `mergefields` is a form array
   * (`mergefields[name]=value`, as the documented example's http_build_query sends it), not the
   * base64 serialize SendEmail's customvars use. The reply is only `result`. Not idempotent, like
   * SendEmail: a caller that must not mail twice records the send in its own outbox first.
   */
  async sendAdminEmail(input: WhmcsSendAdminEmailInput, options?: WhmcsCallOptions): Promise<void> {
    const templateName = input.templateName?.trim() ?? '';
    if (templateName === '' && (input.customMessage ?? '').trim() === '') throw new WhmcsInputError('templateName', 'a template name or a custom message is needed');
    if (input.departmentId !== undefined) validateId('departmentId', input.departmentId);
    await this.call(
      'SendAdminEmail',
      {
        messagename: templateName || undefined,
        customsubject: templateName ? undefined : input.customSubject,
        custommessage: templateName ? undefined : input.customMessage,
        type: input.type,
        deptid: input.departmentId,
        mergefields: input.mergeFields,
      },
      options,
    );
  }

  /**
   * CreateInvoice with numbered lines (`itemdescription1`, `itemamount1`, `itemtaxed1`, …). Reply:
   * `invoiceid`, `status`. Not idempotent in WHMCS. Exactly-once the way the usage push does it for
   * AddBillableItem: a deterministic token per charge (outbox key) goes into `notes`; before the first
   * send and after any outcome-unknown failure, findInvoiceByToken looks for it and only an absent
   * token is sent (again). Definite refusals (WhmcsApiError) are final.
   */
  async createInvoice(input: WhmcsCreateInvoiceInput, options?: WhmcsCallOptions): Promise<WhmcsCreatedInvoice> {
    validateId('userId', input.userId);
    if (input.items.length === 0) throw new WhmcsInputError('items', 'an invoice needs at least one line');
    for (const field of ['date', 'dueDate'] as const) {
      const value = input[field];
      if (value !== undefined && !DATE_PATTERN.test(value)) throw new WhmcsInputError(field, 'must be YYYY-MM-DD');
    }
    if (input.draft && input.sendInvoice) throw new WhmcsInputError('sendInvoice', 'WHMCS cannot create and send a draft in one call');
    const lines: Record<string, string | boolean> = {};
    input.items.forEach((item, index) => {
      if (item.description.trim() === '') throw new WhmcsInputError(`items[${index}].description`, 'must not be empty');
      if (!MONEY_PATTERN.test(item.amount)) throw new WhmcsInputError(`items[${index}].amount`, 'must be a decimal string with at most 2 decimals');
      lines[`itemdescription${index + 1}`] = item.description;
      lines[`itemamount${index + 1}`] = item.amount;
      lines[`itemtaxed${index + 1}`] = item.taxed ?? false;
    });
    const reply = await this.call(
      'CreateInvoice',
      {
        userid: input.userId,
        date: input.date,
        duedate: input.dueDate,
        notes: input.notes,
        draft: input.draft,
        sendinvoice: input.sendInvoice,
        autoapplycredit: input.autoApplyCredit,
        paymentmethod: input.paymentMethod,
        ...lines,
      },
      options,
    );
    const invoiceId = toInt(reply.invoiceid);
    if (invoiceId <= 0) throw new WhmcsTransportError('CreateInvoice', 'invalid_response', true, 'success without an invoiceid');
    return { invoiceId, status: toText(reply.status) };
  }

  /** Reconciliation for CreateInvoice: the client's most recent invoice whose notes contain `token`, or null. */
  async findInvoiceByToken(userId: number, token: string, scanInvoices = 25, options?: WhmcsCallOptions): Promise<WhmcsInvoiceSummary | null> {
    if (token.trim() === '') throw new WhmcsInputError('token', 'a reconciliation token must not be empty');
    const { items } = await this.getInvoices({ userId, orderBy: 'id', order: 'desc', limitNum: scanInvoices }, options);
    return items.find((invoice) => invoice.notes.includes(token)) ?? null;
  }

  /**
   * ApplyCredit: moves `amount` of the client's credit onto an unpaid invoice. Reply: `invoiceid`,
   * `amount` (the credit applied), `invoicepaid` ("true"/"false"). Not idempotent: after an
   * outcome-unknown failure, re-read the invoice (getInvoice: `balance`, `status`) and the client's
   * credit (getClientCredit) against the amounts recorded before the call, and send again only if
   * neither moved; WHMCS itself refuses more than the invoice balance or the credit balance.
   */
  async applyCredit(input: WhmcsApplyCreditInput, options?: WhmcsCallOptions): Promise<WhmcsAppliedCredit> {
    validateId('invoiceId', input.invoiceId);
    if (!MONEY_PATTERN.test(input.amount) || !/[1-9]/.test(input.amount) || input.amount.startsWith('-')) {
      throw new WhmcsInputError('amount', 'must be a positive decimal string with at most 2 decimals');
    }
    const reply = await this.call('ApplyCredit', { invoiceid: input.invoiceId, amount: input.amount, noemail: input.noEmail }, options);
    const amount = parseMoney(reply.amount);
    const paid = toText(reply.invoicepaid).toLowerCase();
    if (amount === null || !['true', 'false'].includes(paid)) {
      throw new WhmcsTransportError('ApplyCredit', 'invalid_response', true, 'success without a decimal amount and a true/false invoicepaid');
    }
    return { invoiceId: toInt(reply.invoiceid) || input.invoiceId, amount, invoicePaid: paid === 'true' };
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

function validateId(field: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new WhmcsInputError(field, 'must be a positive integer');
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
    regDate: toIsoDate(row.regdate),
    nextDueDate: toIsoDate(row.nextduedate),
    recurringAmount: toDecimal(row.recurringamount),
    suspensionReason: toText(row.suspensionreason),
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
