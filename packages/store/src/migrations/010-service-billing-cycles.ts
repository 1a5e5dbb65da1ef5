import type { Migration } from '../migrator';

/**
 * Service billing periods (BILLING_PERIODS=service) and the mode an install bills by.
 *
 * - `billing_settings.periods`: what an install bills by when BILLING_PERIODS is not set. An install
 *   that already rated calls when this migration ran keeps `calendar` (its batches, tokens and
 *   customers' invoices stay as they were); a new install gets `service`. BILLING_PERIODS, when set,
 *   always wins.
 * - `service_billing_cycles`: each service's WHMCS cycle and due-date anchor, one row per segment
 *   (a cycle change starts a new one on the local day it was seen; the first is valid since always,
 *   stored as -infinity). `checked_at` on the newest row says when WHMCS was last asked.
 * - Periods, batch ids and charge periods may now also be a service period's first day
 *   (`YYYY-MM-DD`, a day other than the 1st; a period starting on the 1st keeps the name `YYYY-MM`).
 */
export const migration010: Migration = {
  version: '010-service-billing-cycles',
  sql: `
CREATE TABLE billing_settings (
  name       text        PRIMARY KEY,
  value      text        NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO billing_settings (name, value)
SELECT 'periods', CASE WHEN EXISTS (SELECT 1 FROM cdr_charges) OR EXISTS (SELECT 1 FROM billing_batches) THEN 'calendar' ELSE 'service' END;
ALTER TABLE billing_settings ADD CONSTRAINT billing_settings_periods CHECK (name <> 'periods' OR value IN ('calendar', 'service'));

CREATE TABLE service_billing_cycles (
  service_id  bigint      NOT NULL,
  valid_from  date        NOT NULL,
  cycle       text        NOT NULL CHECK (cycle IN ('monthly', 'quarterly', 'semiannually', 'annually', 'biennially', 'triennially', 'free', 'onetime')),
  anchor      date,
  whmcs_cycle text        NOT NULL,
  next_due    date,
  source      text        NOT NULL CHECK (source IN ('event', 'whmcs', 'default')),
  observed_at timestamptz NOT NULL DEFAULT now(),
  checked_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service_id, valid_from)
);

ALTER TABLE billing_batches DROP CONSTRAINT billing_batches_batch_id_check;
ALTER TABLE billing_batches ADD CONSTRAINT billing_batches_batch_id_check
  CHECK (batch_id ~ '^b-[0-9]+-[0-9]{4}-(0[1-9]|1[0-2])(-(0[2-9]|[12][0-9]|3[01]))?(-[a-z]+)?$');
ALTER TABLE billing_batches DROP CONSTRAINT billing_batches_period_check;
ALTER TABLE billing_batches ADD CONSTRAINT billing_batches_period_check
  CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])(-(0[2-9]|[12][0-9]|3[01]))?$');
ALTER TABLE cdr_charges DROP CONSTRAINT cdr_charges_period_check;
ALTER TABLE cdr_charges ADD CONSTRAINT cdr_charges_period_check
  CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])(-(0[2-9]|[12][0-9]|3[01]))?$');
`,
};
