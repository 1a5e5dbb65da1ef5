/**
 * A stand-in for WHMCS's external API (`POST /includes/api.php`, form-encoded, identifier + secret,
 * `responsetype=json`) on loopback, for tests of the bridge's WHMCS client and billing. It keeps clients,
 * services (status, suspend reason), client credit, billable items, invoices (with applied credit),
 * sent emails and the activity log in memory with deterministic ids, answers
 * with WHMCS's uneven shapes (numbers as strings, nested `{product: [...]}`, `""` when empty,
 * AddBillableItem's `status` instead of `result`), and can inject faults with seeded randomness.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededRandom } from './random';

export type WhmcsFaultMode =
  /** HTTP 500 HTML page before anything is done */
  | 'http_500'
  /** `result: error` before anything is done */
  | 'result_error'
  /** the action is applied, then no answer ever comes (until the client gives up) */
  | 'timeout_after_effect'
  /** the action is applied, then a PHP notice precedes the JSON (not parseable) */
  | 'invalid_json'
  /** the action is applied, then `result: success` comes with every other value replaced by "N/A" */
  | 'malformed_reply';

export interface WhmcsFaultPlan {
  mode: WhmcsFaultMode;
  /** share of matching requests that fail, 0-100 */
  percent: number;
  /** only these actions (default: all) */
  actions?: readonly string[];
}

export interface StandinClient {
  id: number;
  uuid: string;
  firstname: string;
  lastname: string;
  companyname: string;
  email: string;
  status: string;
  currency: number;
  currency_code: string;
  /** credit balance as WHMCS's `client.credit` decimal string (WHMCS stores 2 decimals; tests may set more) */
  credit: string;
  /** client custom fields; GetClientsDetails answers `customfields: [{id, value}]` as WHMCS documents (no name) */
  customfields?: { id: number; value: string }[];
}

export interface StandinCustomField {
  id: number;
  name: string;
  value: string;
}

export interface StandinService {
  id: number;
  clientid: number;
  orderid: number;
  pid: number;
  name: string;
  domain: string;
  serverid: number;
  status: string;
  billingcycle: string;
  regdate: string;
  nextduedate: string;
  recurringamount: string;
  username: string;
  password: string;
  notes: string;
  suspendreason: string;
  overideautosuspend: boolean;
  overidesuspenduntil: string;
  customfields: StandinCustomField[];
  configoptions: { id: number; option: string; type: string; value: string }[];
}

export interface StandinBillableItem {
  id: number;
  clientid: number;
  description: string;
  amount: string;
  unit: string;
  quantity: string;
  invoiceaction: string;
  duedate: string;
  invoiceId: number | null;
}

export interface StandinInvoiceItem {
  id: number;
  type: string;
  relid: number;
  description: string;
  amount: string;
  taxed: number;
}

export interface StandinInvoice {
  id: number;
  userid: number;
  status: string;
  date: string;
  duedate: string;
  notes: string;
  paymentmethod: string;
  /** credit applied to the invoice (GetInvoice `credit`) */
  credit: string;
  items: StandinInvoiceItem[];
}

export interface StandinEmailTemplate {
  name: string;
  /** general (related id = client id), product (service id), invoice (invoice id) */
  type: 'general' | 'product' | 'invoice';
  disabled?: boolean;
}

export interface StandinSentEmail {
  messagename: string;
  type: StandinEmailTemplate['type'];
  /** the related id WHMCS got */
  id: number;
  /** the client the email went to */
  clientid: number;
  /** customvars as decoded from base64 PHP serialize */
  customvars: Record<string, string>;
}

/** One SendAdminEmail WHMCS accepted. */
export interface StandinSentAdminEmail {
  /** the admin template's name, or '' for a custom message */
  messagename: string;
  customsubject: string;
  type: string;
  deptid: number | null;
  /** mergefields as WHMCS reads them from the form array (`mergefields[name]=value`) */
  mergefields: Record<string, string>;
}

export interface StandinRequest {
  action: string;
  /** form fields with identifier, secret, accesskey and password fields removed */
  params: Record<string, string>;
  fault: WhmcsFaultMode | null;
  /** the caller's TCP port (the chaos suite finds the process that sent a request from it) */
  remotePort?: number;
}

export interface WhmcsStandinState {
  clients: Map<number, StandinClient>;
  services: Map<number, StandinService>;
  billableItems: StandinBillableItem[];
  invoices: StandinInvoice[];
  activity: { clientid: number; description: string }[];
  emails: StandinSentEmail[];
  adminEmails: StandinSentAdminEmail[];
  requests: StandinRequest[];
}

export interface WhmcsStandinOptions {
  identifier?: string;
  secret?: string;
  /** when set, requests without this `accesskey` get "Invalid IP …" like WHMCS's IP restriction */
  accessKey?: string;
  /** reported by WhmcsDetails; below 8.2 AddBillableItem takes `hours`, from 8.2 `unit` + `quantity` */
  version?: string;
  /** when set, other actions get "Invalid Permissions" (WHMCS API roles) */
  allowedActions?: readonly string[];
  faults?: WhmcsFaultPlan[];
  /** email templates SendEmail knows (default: a few of WHMCS's stock client templates) */
  emailTemplates?: StandinEmailTemplate[];
  /** admin email templates SendAdminEmail knows (default: a few of WHMCS's stock admin templates) */
  adminEmailTemplates?: string[];
  /** seed for fault randomness: the same seed gives the same failures in the same order */
  seed?: number;
}

export interface WhmcsStandin {
  /** full `…/includes/api.php` URL */
  url: string;
  identifier: string;
  secret: string;
  state: WhmcsStandinState;
  setFaults(faults: WhmcsFaultPlan[]): void;
  /**
   * Awaited after an action was carried out (its answer computed from the state at that moment) and
   * before the answer is sent: a test holds one answer back while WHMCS changes, as a slow network does.
   */
  beforeAnswer: ((action: string, params: Record<string, string>) => Promise<void>) | null;
  addClient(client?: Partial<StandinClient>): StandinClient;
  addService(service: Partial<StandinService> & { clientid: number }): StandinService;
  /** What WHMCS's invoice run does: puts the client's un-invoiced billable items on a new invoice. */
  invoiceBillableItems(clientId: number, date?: string): StandinInvoice | null;
  close(): Promise<void>;
}

class StandinRefusal extends Error {
  constructor(
    message: string,
    readonly httpStatus = 200,
  ) {
    super(message);
  }
}

const MONEY = /^(-?)(\d+)(?:\.(\d{1,2}))?$/;

function toCents(amount: string): bigint {
  const match = MONEY.exec(amount.trim());
  if (!match) throw new StandinRefusal('Invalid Amount');
  const cents = BigInt(match[2]) * 100n + BigInt((match[3] ?? '0').padEnd(2, '0'));
  return match[1] === '-' ? -cents : cents;
}

function fromCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** Credit amounts in micro-units, so a test credit like "12.345678" stays exact. */
const DECIMAL = /^(-?)(\d+)(?:\.(\d{1,6}))?$/;

function toMicros(amount: string): bigint {
  const match = DECIMAL.exec(amount.trim());
  if (!match) throw new StandinRefusal('Invalid Amount');
  const micros = BigInt(match[2]) * 1_000_000n + BigInt((match[3] ?? '0').padEnd(6, '0'));
  return match[1] === '-' ? -micros : micros;
}

/** At least 2 decimals, more only when needed ("10.00", "2.345678"). */
function fromMicros(micros: bigint): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  const fraction = (abs % 1_000_000n)
    .toString()
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${sign}${abs / 1_000_000n}.${fraction.padEnd(2, '0')}`;
}

const DEFAULT_ADMIN_EMAIL_TEMPLATES = ['Automatic Setup Failed', 'Automatic Setup Successful', 'Service Unsuspension Failed', 'Service Unsuspension Successful'];

const DEFAULT_EMAIL_TEMPLATES: StandinEmailTemplate[] = [
  { name: 'Client Signup Email', type: 'general' },
  { name: 'Credit Card Expiring Soon', type: 'general' },
  { name: 'Service Suspension Notification', type: 'product' },
  { name: 'Service Unsuspension Notification', type: 'product' },
  { name: 'Invoice Created', type: 'invoice' },
  { name: 'Invoice Payment Confirmation', type: 'invoice' },
];

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(/[.-]/).map((part) => Number.parseInt(part, 10));
  return a > major || (a === major && b >= minor);
}

/** Minimal PHP unserialize for what UpdateClientProduct receives: a flat array of ints/strings. */
function phpUnserializeMap(text: string): Record<string, string> {
  let pos = 0;
  const expect = (literal: string) => {
    if (!text.startsWith(literal, pos)) throw new StandinRefusal('Invalid serialized data');
    pos += literal.length;
  };
  const readUntil = (stop: string) => {
    const end = text.indexOf(stop, pos);
    if (end < 0) throw new StandinRefusal('Invalid serialized data');
    const value = text.slice(pos, end);
    pos = end + stop.length;
    return value;
  };
  const readScalar = (): string => {
    const type = text[pos];
    pos += 2;
    if (type === 'i') return readUntil(';');
    if (type !== 's') throw new StandinRefusal('Invalid serialized data');
    const length = Number.parseInt(readUntil(':'), 10);
    expect('"');
    const bytes = Buffer.from(text.slice(pos), 'utf8').subarray(0, length).toString('utf8');
    pos += bytes.length;
    expect('";');
    return bytes;
  };
  expect('a:');
  const count = Number.parseInt(readUntil(':'), 10);
  expect('{');
  const map: Record<string, string> = {};
  for (let index = 0; index < count; index += 1) {
    const key = readScalar();
    map[key] = readScalar();
  }
  expect('}');
  return map;
}

/** Every value replaced by "N/A", keys kept: a reply of the right shape with nothing usable in it. */
function mangle(value: unknown): Record<string, unknown> {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item)]));
    return 'N/A';
  };
  return walk(value) as Record<string, unknown>;
}

const SECRET_FIELDS = new Set(['identifier', 'secret', 'accesskey', 'username', 'password', 'servicepassword']);

export async function startWhmcsStandin(options: WhmcsStandinOptions = {}): Promise<WhmcsStandin> {
  const identifier = options.identifier ?? 'standin-identifier';
  const secret = options.secret ?? 'standin-secret-value';
  const version = options.version ?? '8.13.1';
  const random = seededRandom(options.seed ?? 1);
  let faults = options.faults ?? [];
  const ids = { client: 0, service: 0, billable: 0, invoice: 0, invoiceItem: 0, customField: 0 };
  const state: WhmcsStandinState = { clients: new Map(), services: new Map(), billableItems: [], invoices: [], activity: [], emails: [], adminEmails: [], requests: [] };
  const emailTemplates = options.emailTemplates ?? DEFAULT_EMAIL_TEMPLATES;
  const adminEmailTemplates = options.adminEmailTemplates ?? DEFAULT_ADMIN_EMAIL_TEMPLATES;
  const sockets = new Set<Socket>();

  const addClient = (client: Partial<StandinClient> = {}): StandinClient => {
    const id = client.id ?? ++ids.client;
    ids.client = Math.max(ids.client, id);
    const row: StandinClient = {
      id,
      uuid: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`,
      firstname: 'Test',
      lastname: `Client ${id}`,
      companyname: '',
      email: `client${id}@example.test`,
      status: 'Active',
      currency: 1,
      currency_code: 'USD',
      credit: '0.00',
      ...client,
    };
    state.clients.set(id, row);
    return row;
  };

  const addService = (service: Partial<StandinService> & { clientid: number }): StandinService => {
    const id = service.id ?? ++ids.service;
    ids.service = Math.max(ids.service, id);
    const row: StandinService = {
      id,
      orderid: id,
      pid: 1,
      name: 'Hosted PBX',
      domain: `tenant${id}.pbx.test`,
      serverid: 1,
      status: 'Active',
      billingcycle: 'Monthly',
      regdate: '2025-01-01',
      nextduedate: '2025-02-01',
      recurringamount: '20.00',
      username: `tenant${id}`,
      password: `pw-${id}`,
      notes: '',
      suspendreason: '',
      overideautosuspend: false,
      overidesuspenduntil: '0000-00-00',
      customfields: [],
      configoptions: [],
      ...service,
    };
    row.customfields = row.customfields.map((field) => ({ ...field, id: field.id || ++ids.customField }));
    state.services.set(id, row);
    return row;
  };

  const invoiceBillableItems = (clientId: number, date = '2025-02-01'): StandinInvoice | null => {
    const due = state.billableItems.filter((item) => item.clientid === clientId && item.invoiceId === null && item.invoiceaction !== 'noinvoice');
    if (due.length === 0) return null;
    const invoice: StandinInvoice = { id: ++ids.invoice, userid: clientId, status: 'Unpaid', date, duedate: date, notes: '', paymentmethod: 'mailin', credit: '0.00', items: [] };
    for (const item of due) {
      item.invoiceId = invoice.id;
      invoice.items.push({ id: ++ids.invoiceItem, type: 'Item', relid: item.id, description: item.description, amount: item.amount, taxed: 0 });
    }
    state.invoices.push(invoice);
    return invoice;
  };

  const service = (params: Record<string, string>): StandinService => {
    const row = state.services.get(Number(params.serviceid ?? params.accountid));
    if (!row) throw new StandinRefusal('Service ID Not Found');
    return row;
  };

  const invoiceSubtotal = (invoice: StandinInvoice) => fromCents(invoice.items.reduce((sum, item) => sum + toCents(item.amount), 0n));
  // No tax and no transactions here: total = subtotal - credit applied, balance = total (WHMCS's own
  // total/balance arithmetic with tax and payments is not modelled).
  const invoiceTotal = (invoice: StandinInvoice) => fromMicros(toMicros(invoiceSubtotal(invoice)) - toMicros(invoice.credit));
  const today = () => new Date().toISOString().slice(0, 10);

  /** PHP's unserialize(base64_decode(…)) of customvars, or WHMCS's refusal. */
  const customVars = (encoded: string | undefined): Record<string, string> => {
    if (encoded === undefined || encoded === '') return {};
    try {
      return phpUnserializeMap(Buffer.from(encoded, 'base64').toString('utf8'));
    } catch {
      throw new StandinRefusal('The custom variables you provided are invalid.');
    }
  };

  const productRow = (row: StandinService) => ({
    id: row.id,
    clientid: String(row.clientid),
    orderid: row.orderid,
    pid: String(row.pid),
    regdate: row.regdate,
    name: row.name,
    domain: row.domain,
    serverid: row.serverid,
    suspensionreason: row.suspendreason,
    status: row.status,
    billingcycle: row.billingcycle,
    nextduedate: row.nextduedate,
    recurringamount: row.recurringamount,
    username: row.username,
    password: row.password,
    overideautosuspend: row.overideautosuspend ? 1 : 0,
    overidesuspenduntil: row.overidesuspenduntil,
    notes: row.notes,
    customfields: row.customfields.length
      ? { customfield: row.customfields.map((field) => ({ id: field.id, name: field.name, translated_name: field.name, value: field.value })) }
      : '',
    configoptions: row.configoptions.length ? { configoption: row.configoptions } : '',
  });

  /** Moves credit from the client to the invoice; true when that paid the invoice. */
  const applyCreditTo = (invoice: StandinInvoice, client: StandinClient, amount: bigint): boolean => {
    client.credit = fromMicros(toMicros(client.credit) - amount);
    invoice.credit = fromMicros(toMicros(invoice.credit) + amount);
    if (toMicros(invoiceTotal(invoice)) > 0n) return false;
    invoice.status = 'Paid';
    return true;
  };

  type Handler = (params: Record<string, string>) => Record<string, unknown>;
  const handlers: Record<string, Handler> = {
    WhmcsDetails: () => ({ result: 'success', whmcs: { version: `${version}-release.1`, canonicalversion: version } }),
    GetClientsProducts: (params) => {
      let rows = [...state.services.values()];
      if (params.clientid) rows = rows.filter((row) => row.clientid === Number(params.clientid));
      if (params.serviceid) rows = rows.filter((row) => row.id === Number(params.serviceid));
      if (params.pid) rows = rows.filter((row) => row.pid === Number(params.pid));
      if (params.domain) rows = rows.filter((row) => row.domain === params.domain);
      const start = Number(params.limitstart ?? 0);
      const page = rows.slice(start, start + Number(params.limitnum ?? 25));
      return {
        result: 'success',
        clientid: params.clientid ?? '',
        serviceid: params.serviceid ?? null,
        totalresults: String(rows.length),
        startnumber: start,
        numreturned: page.length,
        products: page.length ? { product: page.map(productRow) } : '',
      };
    },
    GetClientsDetails: (params) => {
      const client = state.clients.get(Number(params.clientid));
      if (!client) throw new StandinRefusal('Client Not Found');
      const customfields = client.customfields ?? [];
      return { result: 'success', userid: client.id, ...client, customfields, client: { ...client, customfields, id: String(client.id), userid: client.id } };
    },
    AddBillableItem: (params) => {
      const clientid = Number(params.clientid);
      if (!state.clients.has(clientid)) throw new StandinRefusal('Client ID not Found');
      if (!params.description) throw new StandinRefusal('You must provide a description');
      const invoiceaction = params.invoiceaction ?? 'noinvoice';
      if (!['noinvoice', 'nextcron', 'nextinvoice', 'duedate', 'recur'].includes(invoiceaction)) throw new StandinRefusal('Invalid Invoice Action');
      if (['duedate', 'recur'].includes(invoiceaction) && !params.duedate) throw new StandinRefusal('Due date is required');
      if (params.duedate && !/^\d{4}-\d{2}-\d{2}$/.test(params.duedate)) throw new StandinRefusal('Invalid Date Format. Expected: YYYY-mm-dd');
      const newApi = versionAtLeast(version, 8, 2);
      if (newApi && !['hours', 'quantity'].includes(params.unit ?? '')) throw new StandinRefusal('Invalid Unit. Valid options are: hours, quantity');
      const amount = fromCents(toCents(params.amount ?? ''));
      const item: StandinBillableItem = {
        id: ++ids.billable,
        clientid,
        description: params.description,
        amount,
        unit: newApi ? params.unit : 'hours',
        quantity: (newApi ? params.quantity : params.hours) ?? '0',
        invoiceaction,
        duedate: params.duedate ?? '',
        invoiceId: null,
      };
      state.billableItems.push(item);
      // As in WHMCS's documented example, this action answers with `status` rather than `result`.
      return { status: 'success', billableid: String(item.id) };
    },
    GetInvoices: (params) => {
      let rows = state.invoices;
      if (params.userid) rows = rows.filter((invoice) => invoice.userid === Number(params.userid));
      if (params.status) rows = rows.filter((invoice) => invoice.status === params.status);
      const direction = params.order === 'desc' ? -1 : 1;
      rows = [...rows].sort((a, b) => direction * (params.orderby === 'date' ? a.date.localeCompare(b.date) || a.id - b.id : a.id - b.id));
      const start = Number(params.limitstart ?? 0);
      const page = rows.slice(start, start + Number(params.limitnum ?? 25));
      return {
        result: 'success',
        totalresults: rows.length,
        startnumber: start,
        numreturned: page.length,
        invoices: page.length
          ? {
              invoice: page.map((invoice) => ({
                id: invoice.id,
                userid: String(invoice.userid),
                invoicenum: '',
                date: invoice.date,
                duedate: invoice.duedate,
                subtotal: invoiceSubtotal(invoice),
                credit: invoice.credit,
                total: invoiceTotal(invoice),
                status: invoice.status,
                notes: invoice.notes,
                currencycode: 'USD',
              })),
            }
          : '',
      };
    },
    GetInvoice: (params) => {
      const invoice = state.invoices.find((row) => row.id === Number(params.invoiceid));
      if (!invoice) throw new StandinRefusal('Invoice ID Not Found');
      return {
        result: 'success',
        invoiceid: invoice.id,
        invoicenum: '',
        userid: invoice.userid,
        date: invoice.date,
        duedate: invoice.duedate,
        datepaid: invoice.status === 'Paid' ? `${invoice.date} 00:00:00` : '0000-00-00 00:00:00',
        subtotal: invoiceSubtotal(invoice),
        credit: invoice.credit,
        tax: '0.00',
        tax2: '0.00',
        total: invoiceTotal(invoice),
        balance: invoiceTotal(invoice),
        taxrate: '0.00',
        taxrate2: '0.00',
        status: invoice.status,
        paymentmethod: invoice.paymentmethod,
        notes: invoice.notes,
        ccgateway: '',
        items: invoice.items.length ? { item: invoice.items.map((item) => ({ ...item, relid: String(item.relid) })) } : '',
        transactions: '',
      };
    },
    // WHMCS's API reference names the service `accountid` for the Module* actions; `serviceid` is taken too.
    ModuleSuspend: (params) => {
      const row = service(params);
      row.status = 'Suspended';
      row.suspendreason = params.suspendreason ?? '';
      return { result: 'success' };
    },
    ModuleUnsuspend: (params) => {
      const row = service(params);
      row.status = 'Active';
      row.suspendreason = '';
      return { result: 'success' };
    },
    SendEmail: (params) => {
      if (!params.messagename) throw new StandinRefusal('You must provide either an existing email template name or a custom message type');
      const template = emailTemplates.find((candidate) => candidate.name === params.messagename);
      if (!template) throw new StandinRefusal('Email Template not found');
      if (template.disabled) throw new StandinRefusal('Email Template is disabled');
      if (!params.id) throw new StandinRefusal('A related ID is required');
      const vars = customVars(params.customvars);
      const related = Number(params.id);
      const clientid =
        template.type === 'general'
          ? state.clients.get(related)?.id
          : template.type === 'product'
            ? state.services.get(related)?.clientid
            : state.invoices.find((invoice) => invoice.id === related)?.userid;
      // WHMCS's generic answer for an invalid related id (and for mailer errors).
      if (clientid === undefined) throw new StandinRefusal('Sending Failed. Please see documentation.');
      state.emails.push({ messagename: template.name, type: template.type, id: related, clientid, customvars: vars });
      return { result: 'success' };
    },
    // Reply only `result` (developers.whmcs.com/api-reference/sendadminemail); the refusal texts are SendEmail's.
    SendAdminEmail: (params) => {
      if (!params.messagename && !params.custommessage) throw new StandinRefusal('You must provide either an existing email template name or a custom message type');
      if (params.messagename && !adminEmailTemplates.includes(params.messagename)) throw new StandinRefusal('Email Template not found');
      const mergefields: Record<string, string> = {};
      for (const [name, value] of Object.entries(params)) {
        const field = /^mergefields\[([^\]]+)\]$/.exec(name);
        if (field) mergefields[field[1]!] = value;
      }
      state.adminEmails.push({
        messagename: params.messagename ?? '',
        customsubject: params.customsubject ?? '',
        type: params.type || 'system',
        deptid: params.deptid ? Number(params.deptid) : null,
        mergefields,
      });
      return { result: 'success' };
    },
    CreateInvoice: (params) => {
      const userid = Number(params.userid);
      const client = state.clients.get(userid);
      if (!client) throw new StandinRefusal('Client ID Not Found');
      const draft = ['1', 'true', 'on'].includes(params.draft ?? '');
      if (draft && ['1', 'true', 'on'].includes(params.sendinvoice ?? '')) {
        throw new StandinRefusal('Cannot create and send a draft invoice in a single API request. Please create and send separately.');
      }
      for (const field of ['date', 'duedate']) {
        if (params[field] && !/^\d{4}-\d{2}-\d{2}$/.test(params[field])) throw new StandinRefusal('Invalid Date Format. Expected: YYYY-mm-dd');
      }
      const invoice: StandinInvoice = {
        id: ++ids.invoice,
        userid,
        status: draft ? 'Draft' : params.status || 'Unpaid',
        date: params.date || today(),
        duedate: params.duedate || params.date || today(),
        notes: params.notes ?? '',
        paymentmethod: params.paymentmethod || 'mailin',
        credit: '0.00',
        items: [],
      };
      for (let line = 1; params[`itemdescription${line}`] !== undefined; line += 1) {
        invoice.items.push({
          id: ++ids.invoiceItem,
          type: '',
          relid: 0,
          description: params[`itemdescription${line}`],
          amount: fromCents(toCents(params[`itemamount${line}`] ?? '0')),
          taxed: ['1', 'true', 'on'].includes(params[`itemtaxed${line}`] ?? '') ? 1 : 0,
        });
      }
      state.invoices.push(invoice);
      if (['1', 'true', 'on'].includes(params.autoapplycredit ?? '') && invoice.status === 'Unpaid') {
        const usable = [toMicros(client.credit), toMicros(invoiceTotal(invoice))].reduce((a, b) => (a < b ? a : b));
        if (usable > 0n) applyCreditTo(invoice, client, usable);
      }
      return { result: 'success', invoiceid: String(invoice.id), status: invoice.status };
    },
    ApplyCredit: (params) => {
      const invoice = state.invoices.find((row) => row.id === Number(params.invoiceid));
      if (!invoice) throw new StandinRefusal('Invoice ID Not Found');
      if (invoice.status !== 'Unpaid') throw new StandinRefusal('Invoice Not in Unpaid Status');
      const client = state.clients.get(invoice.userid);
      if (!client) throw new StandinRefusal('Client ID Not Found');
      const balance = toMicros(invoiceTotal(invoice));
      const credit = toMicros(client.credit);
      // Without an amount WHMCS's docs do not say what is applied; the stand-in applies what it can.
      const amount = params.amount === undefined ? (credit < balance ? credit : balance) : toMicros(params.amount);
      if (amount <= 0n) throw new StandinRefusal('Credit Amount to apply must be greater than zero');
      if (amount > credit) throw new StandinRefusal('Amount exceeds customer credit balance');
      if (amount > balance) throw new StandinRefusal('Amount Exceeds Invoice Balance');
      const paid = applyCreditTo(invoice, client, amount);
      return { result: 'success', invoiceid: String(invoice.id), amount: fromMicros(amount), invoicepaid: paid ? 'true' : 'false' };
    },
    LogActivity: (params) => {
      if (!params.description) throw new StandinRefusal('Description is required');
      state.activity.push({ clientid: Number(params.clientid ?? 0), description: params.description });
      return { result: 'success' };
    },
    UpdateClientProduct: (params) => {
      const row = service(params);
      if (params.status) row.status = params.status;
      if (params.domain) row.domain = params.domain;
      if (params.notes !== undefined) row.notes = params.notes;
      if (params.serviceusername) row.username = params.serviceusername;
      if (params.suspendreason !== undefined) row.suspendreason = params.suspendreason;
      if (params.overideautosuspend) row.overideautosuspend = params.overideautosuspend === 'on';
      if (params.overidesuspenduntil) row.overidesuspenduntil = params.overidesuspenduntil;
      if (params.customfields) {
        const values = phpUnserializeMap(Buffer.from(params.customfields, 'base64').toString('utf8'));
        for (const [fieldId, value] of Object.entries(values)) {
          const field = row.customfields.find((candidate) => candidate.id === Number(fieldId));
          if (field) field.value = value;
        }
      }
      return { result: 'success', serviceid: row.id };
    },
  };

  const authenticate = (params: Record<string, string>, peer: string) => {
    const givenIdentifier = params.identifier ?? params.username;
    const givenSecret = params.secret ?? params.password;
    if (options.accessKey !== undefined && params.accesskey !== options.accessKey) throw new StandinRefusal(`Invalid IP ${peer}`, 403);
    if (givenIdentifier !== identifier || givenSecret !== secret) throw new StandinRefusal('Authentication Failed', 403);
    if (options.allowedActions && !options.allowedActions.includes(params.action)) {
      throw new StandinRefusal(`Invalid Permissions: API action "${params.action}" is not allowed`, 403);
    }
  };

  const pickFault = (action: string): WhmcsFaultMode | null => {
    for (const fault of faults) {
      if (fault.actions && !fault.actions.includes(action)) continue;
      if (random() * 100 < fault.percent) return fault.mode;
    }
    return null;
  };

  const reply = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const handle = (params: Record<string, string>, peer: string, response: ServerResponse, remotePort?: number) => {
    try {
      authenticate(params, peer);
    } catch (refusal) {
      const { message, httpStatus } = refusal as StandinRefusal;
      reply(response, httpStatus, { result: 'error', message });
      return;
    }
    const action = params.action ?? '';
    const safeParams = Object.fromEntries(Object.entries(params).filter(([name]) => !SECRET_FIELDS.has(name)));
    const fault = pickFault(action);
    state.requests.push({ action, params: safeParams, fault, ...(remotePort === undefined ? {} : { remotePort }) });
    if (fault === 'http_500') {
      response.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>Internal Server Error</body></html>');
      return;
    }
    if (fault === 'result_error') {
      reply(response, 200, { result: 'error', message: 'An unexpected error occurred (stand-in injected)' });
      return;
    }
    const handler = handlers[action];
    if (!handler) {
      reply(response, 200, { result: 'error', message: 'Command Not Found' });
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = handler(params);
    } catch (error) {
      if (!(error instanceof StandinRefusal)) throw error;
      reply(response, error.httpStatus, { result: 'error', message: error.message });
      return;
    }
    if (fault === 'timeout_after_effect') return; // the work is done; the answer never comes
    if (standin.beforeAnswer) {
      void standin.beforeAnswer(action, safeParams).then(() => answer(response, fault, body));
      return;
    }
    answer(response, fault, body);
  };

  const answer = (response: ServerResponse, fault: WhmcsFaultMode | null, body: Record<string, unknown>) => {
    if (fault === 'invalid_json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(`<br />\n<b>Notice</b>: Undefined index in api.php<br />\n${JSON.stringify(body)}`);
      return;
    }
    if (fault === 'malformed_reply') {
      reply(response, 200, { ...mangle(body), result: 'success' });
      return;
    }
    reply(response, 200, body);
  };

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || !request.url?.startsWith('/includes/api.php')) {
        response.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>');
        return;
      }
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      if (params.responsetype !== 'json') {
        response
          .writeHead(200, { 'content-type': 'text/xml' })
          .end('<?xml version="1.0" encoding="utf-8"?><whmcsapi><result>error</result><message>responsetype json expected by the stand-in</message></whmcsapi>');
        return;
      }
      handle(params, request.socket.remoteAddress ?? '', response, request.socket.remotePort);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const standin: WhmcsStandin = {
    url: `http://127.0.0.1:${port}/includes/api.php`,
    identifier,
    secret,
    state,
    setFaults: (next) => {
      faults = next;
    },
    beforeAnswer: null,
    addClient,
    addService,
    invoiceBillableItems,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return standin;
}
