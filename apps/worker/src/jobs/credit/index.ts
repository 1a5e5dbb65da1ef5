export { fanOutCreditChecks, handleCreditCheckAll } from './check-all';
export { handleCreditCheck, queueCreditCheckAfterSync, runCreditCheck } from './check-client';
export { billingDay, fanOutPrepaidInvoices, handlePrepaidInvoice, handlePrepaidInvoiceAll, invoicePrepaidUsage, type PrepaidHooks, type PrepaidOutcome } from './prepaid-invoice';
