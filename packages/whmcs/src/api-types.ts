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
  status: string;
  billingCycle: string;
  regDate: string;
  nextDueDate: string;
  recurringAmount: string;
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
