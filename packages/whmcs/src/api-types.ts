/** Typed results of the WHMCS API actions the bridge uses (normalised from WHMCS's raw JSON). */

export interface WhmcsDetails {
  /** e.g. "8.13.1" (canonical) */
  version: string;
  /** e.g. "8.13.1-release.1" */
  fullVersion: string;
}

export interface WhmcsServiceConfigOption {
  id: number;
  option: string;
  type: string;
  value: string;
}

/** One row of GetClientsProducts. The service password WHMCS includes is deliberately dropped. */
export interface WhmcsClientProduct {
  id: number;
  clientId: number;
  orderId: number;
  pid: number;
  name: string;
  domain: string;
  serverId: number;
  /** Pending, Active, Suspended, Terminated, Cancelled, Fraud, Completed */
  status: string;
  /** WHMCS's words: Free Account, One Time, Monthly, Quarterly, Semi-Annually, Annually, Biennially, Triennially */
  billingCycle: string;
  /** YYYY-MM-DD, "" when WHMCS has none (0000-00-00) */
  regDate: string;
  /** YYYY-MM-DD, "" when WHMCS has none (0000-00-00, e.g. free or one-time services) */
  nextDueDate: string;
  /** decimal string, as WHMCS wrote it */
  recurringAmount: string;
  /** `suspensionreason` (in WHMCS's documented example reply; "" when not suspended or none given) */
  suspensionReason: string;
  username: string;
  overrideAutoSuspend: boolean;
  overrideSuspendUntil: string;
  /** custom fields by name */
  customFields: Record<string, string>;
  customFieldIds: Record<string, number>;
  configOptions: WhmcsServiceConfigOption[];
}

export interface WhmcsClientProductsQuery {
  clientId?: number;
  serviceId?: number;
  pid?: number;
  domain?: string;
  limitStart?: number;
  limitNum?: number;
}

export interface WhmcsList<T> {
  totalResults: number;
  items: T[];
}

export interface WhmcsClientDetails {
  id: number;
  uuid: string;
  email: string;
  firstName: string;
  lastName: string;
  companyName: string;
  status: string;
  currencyId: number;
  currencyCode: string;
  /**
   * The client's credit balance (`client.credit`), a decimal string kept exactly as WHMCS wrote it,
   * in the client's currency; null only when WHMCS left the field out.
   */
  credit: string | null;
  /**
   * The client's custom fields (`client.customfields`: WHMCS documents `id` and `value`; a `name`
   * is kept when a version sends one). Credit control reads "Low Balance Threshold" and "Manual
   * VoIP Suspend" from here.
   */
  customFields: WhmcsClientCustomField[];
}

export interface WhmcsClientCustomField {
  id: number;
  /** "" when WHMCS sent only the id */
  name: string;
  value: string;
}

/** GetClientsDetails reduced to what credit control needs; `credit` is required here. */
export interface WhmcsClientCredit {
  clientId: number;
  credit: string;
  currencyCode: string;
}

export interface WhmcsInvoiceLineInput {
  description: string;
  /** decimal string with at most 2 decimals */
  amount: string;
  taxed?: boolean;
}

export interface WhmcsCreateInvoiceInput {
  userId: number;
  /** YYYY-MM-DD, default today in WHMCS */
  date?: string;
  /** YYYY-MM-DD */
  dueDate?: string;
  /** put the reconciliation token here (see findInvoiceByToken) */
  notes?: string;
  items: readonly WhmcsInvoiceLineInput[];
  /** create as Draft (WHMCS refuses draft together with sendInvoice) */
  draft?: boolean;
  /** send the Invoice Created email */
  sendInvoice?: boolean;
  /** let WHMCS apply the client's credit at once */
  autoApplyCredit?: boolean;
  /** system name of the gateway, e.g. "mailin" */
  paymentMethod?: string;
}

export interface WhmcsCreatedInvoice {
  invoiceId: number;
  /** e.g. Unpaid, Draft (or Paid when autoApplyCredit covered it) */
  status: string;
}

export interface WhmcsApplyCreditInput {
  invoiceId: number;
  /** decimal string with at most 2 decimals, > 0 */
  amount: string;
  /** no "Invoice Payment Confirmation" email if the invoice becomes paid */
  noEmail?: boolean;
}

export interface WhmcsAppliedCredit {
  invoiceId: number;
  /** the credit WHMCS applied, decimal string */
  amount: string;
  /** WHMCS's "true"/"false" string */
  invoicePaid: boolean;
}

export interface WhmcsSendEmailInput {
  /** name of an existing client email template, e.g. "Service Suspension Notification" */
  templateName: string;
  /**
   * the related id for the template's type: client id (general), service id (product), invoice id
   * (invoice), domain id, ticket id or affiliate id
   */
  relatedId: number;
  /** extra Smarty variables for the template ({$name}); sent base64 PHP-serialized as WHMCS's docs show */
  customVars?: Record<string, string>;
}

export interface WhmcsSendAdminEmailInput {
  /** name of an existing admin email template (e.g. "Service Unsuspension Successful"); or send customSubject/customMessage */
  templateName?: string;
  customSubject?: string;
  /** HTML body of a custom message (when no template is named) */
  customMessage?: string;
  /** which admins get it: those with system, account or support notifications enabled (WHMCS's default: system) */
  type?: 'system' | 'account' | 'support';
  /** the department of a `support` notification */
  departmentId?: number;
  /** merge fields for the template ({$name}) */
  mergeFields?: Record<string, string>;
}

export type WhmcsInvoiceAction = 'noinvoice' | 'nextcron' | 'nextinvoice' | 'duedate' | 'recur';

export interface WhmcsBillableItemInput {
  clientId: number;
  /** printed on the invoice; put the reconciliation token in it */
  description: string;
  /** total to invoice, decimal string with at most 2 decimals */
  amount: string;
  invoiceAction: WhmcsInvoiceAction;
  /** YYYY-MM-DD; required for `duedate` */
  dueDate?: string;
  /** decimal string, default "1" (keep 1: WHMCS's per-unit vs total semantics are unclear) */
  quantity?: string;
}

export interface WhmcsInvoicesQuery {
  userId?: number;
  status?: string;
  orderBy?: 'id' | 'invoicenumber' | 'date' | 'duedate' | 'total' | 'status';
  order?: 'asc' | 'desc';
  limitStart?: number;
  limitNum?: number;
}

export interface WhmcsInvoiceSummary {
  id: number;
  userId: number;
  invoiceNum: string;
  date: string;
  dueDate: string;
  total: string;
  status: string;
  notes: string;
  currencyCode: string;
}

export interface WhmcsInvoiceItem {
  id: number;
  type: string;
  relId: number;
  description: string;
  amount: string;
  taxed: boolean;
}

export interface WhmcsInvoice {
  id: number;
  userId: number;
  status: string;
  date: string;
  dueDate: string;
  subtotal: string;
  /** credit applied to the invoice (GetInvoice `credit`) */
  credit: string;
  total: string;
  balance: string;
  notes: string;
  items: WhmcsInvoiceItem[];
}

/** Where a pushed charge (found by its token) ended up. */
export interface WhmcsBilledItem {
  invoiceId: number;
  itemId: number;
  description: string;
  amount: string;
}

export interface WhmcsUpdateClientProductInput {
  status?: string;
  domain?: string;
  notes?: string;
  serviceUsername?: string;
  suspendReason?: string;
  overrideAutoSuspend?: boolean;
  /** YYYY-MM-DD */
  overrideSuspendUntil?: string;
  /** custom field id → value (see WhmcsClientProduct.customFieldIds) */
  customFields?: Record<number, string>;
}
