import type { Migration } from '../migrator';

/**
 * A prepaid invoice held because its client pays in another currency than its calls (CURRENCY_MISMATCH) can be released
 * by an operator (`ictvoip billing prepaid-release`): its calls go back to unbilled and the row is kept as `abandoned`
 * with the time of the release, so its key and closing period are never made again and the calls it held stay held
 * (releasedCallHeldSql) until they are re-rated.
 */
export const migration027: Migration = {
  version: '027-prepaid-release',
  sql: `
ALTER TABLE prepaid_invoices DROP CONSTRAINT IF EXISTS prepaid_invoices_state_check;
ALTER TABLE prepaid_invoices ADD CONSTRAINT prepaid_invoices_state_check CHECK (state IN ('creating', 'unknown', 'created', 'paid', 'abandoned'));
ALTER TABLE prepaid_invoices ADD COLUMN released_at timestamptz;
ALTER TABLE prepaid_invoices ADD CONSTRAINT prepaid_invoices_released CHECK ((state = 'abandoned') = (released_at IS NOT NULL));
`,
};
