import type { Migration } from '../migrator';

/**
 * BILLING_MAX_ATTEMPTS caps WHMCS's refusals of a batch, not its pushes: a push that never reached
 * WHMCS (unreachable, a proxy's answer) is sent again at every close and must not use the cap up.
 * `attempts` counts every push; `refusals` counts only WHMCS's answers refusing the item. A batch
 * already `failed` on a refusal keeps the count it was judged by until now (its attempts), so one an
 * operator was alerted about stays final.
 */
export const migration022: Migration = {
  version: '022-billing-refusals',
  sql: `
ALTER TABLE billing_batches ADD COLUMN IF NOT EXISTS refusals integer NOT NULL DEFAULT 0;
UPDATE billing_batches SET refusals = attempts WHERE state = 'failed' AND last_error_code IS DISTINCT FROM 'WHMCS_TRANSPORT';
`,
};
