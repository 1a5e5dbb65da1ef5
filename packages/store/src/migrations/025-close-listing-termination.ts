import type { Migration } from '../migrator';

/**
 * The hourly billing close (issue #20, review of the prepaid close):
 *
 * A prepaid service's closing invoice is found by what it is, its service and closing period (one
 * per service and period, as its key `pp-<service>-close-<period>` already made it), not by
 * rebuilding that key in SQL: the unique index answers the close's listing and states the rule.
 *
 * A terminated service's final bill is due BILLING_CLOSE_DELAY_SECONDS after its termination, which
 * was read from `updated_at`, moved by any later write (the observed state a purge records, a backlog
 * cleared): `terminated_at` is set when the desired state becomes `terminated` (a repeat keeps it)
 * and cleared when it leaves it (ServicesRepository.setDesired). Services terminated before this
 * migration get their last update, the best time known for them (what their final bill was due from
 * until now); readers fall back on it the same way for a row written without it.
 */
export const migration025: Migration = {
  version: '025-close-listing-termination',
  sql: `
CREATE UNIQUE INDEX prepaid_invoices_closing ON prepaid_invoices (service_id, closing_period) WHERE closing_period IS NOT NULL;
ALTER TABLE services ADD COLUMN terminated_at timestamptz;
UPDATE services SET terminated_at = updated_at WHERE desired_state = 'terminated';
`,
};
