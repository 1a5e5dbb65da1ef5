import type { Migration } from '../migrator';

/**
 * Billing batches gain the last state, `verified`: after `pushed` (WHMCS accepted the
 * billable item and gave its id = the "sent"), a later check finds the line on a WHMCS
 * invoice by its token and records the invoice and line ids. `verify_checked_at` throttles that
 * check (WHMCS invoices billable items at its daily cron, not at once).
 */
export const migration004: Migration = {
  version: '004-billing-verified',
  sql: `
ALTER TABLE billing_batches DROP CONSTRAINT billing_batches_state_check;
ALTER TABLE billing_batches ADD CONSTRAINT billing_batches_state_check
  CHECK (state IN ('open', 'pushing', 'unknown', 'pushed', 'verified', 'failed', 'zero'));
ALTER TABLE billing_batches ADD COLUMN verified_at timestamptz;
ALTER TABLE billing_batches ADD COLUMN verify_checked_at timestamptz;
ALTER TABLE billing_batches ADD CONSTRAINT billing_batches_verified_on_invoice
  CHECK (state <> 'verified' OR (whmcs_invoice_id IS NOT NULL AND whmcs_invoice_item_id IS NOT NULL AND verified_at IS NOT NULL));
DROP INDEX billing_batches_unfinished;
CREATE INDEX billing_batches_unfinished ON billing_batches (service_id) WHERE state NOT IN ('pushed', 'verified', 'zero');
CREATE INDEX billing_batches_unverified ON billing_batches (pushed_at) WHERE state = 'pushed';
`,
};
