import type { Migration } from '../migrator';

/**
 * Credit control gaps (issue 16).
 *
 * Prepaid period close: a prepaid service's calls are billed only on prepaid invoices, never in a
 * period batch. At the close of a period the calls of that period not yet on a daily invoice go on
 * one closing invoice, key `pp-<service>-close-<period>` (the period label), made once whatever
 * daily invoice the same day already has: the one-per-day rule now lives in the key alone
 * (`pp-<service>-<day>` is unique as the primary key), not in UNIQUE (service_id, day).
 *
 * Credit alerts: an unreadable balance alerted once per outage is a row of `credit_alerts` (the
 * outbox of the alert webhook, like the registration and gateway history rows), delivered through
 * `monitoring_alert_deliveries` with kind `credit`.
 */
export const migration014: Migration = {
  version: '014-credit-close-alerts',
  sql: `
ALTER TABLE prepaid_invoices DROP CONSTRAINT IF EXISTS prepaid_invoices_invoice_key_check;
ALTER TABLE prepaid_invoices ADD CONSTRAINT prepaid_invoices_invoice_key_check
  CHECK (invoice_key ~ '^pp-[0-9]+-[0-9]{4}-[0-9]{2}-[0-9]{2}$' OR invoice_key ~ '^pp-[0-9]+-close-[0-9]{4}-[0-9]{2}(-[0-9]{2})?$');
ALTER TABLE prepaid_invoices DROP CONSTRAINT IF EXISTS prepaid_invoices_service_id_day_key;
ALTER TABLE prepaid_invoices ADD COLUMN closing_period text;

CREATE TABLE credit_alerts (
  id            bigserial   PRIMARY KEY,
  service_id    bigint      NOT NULL,
  client_id     bigint      NOT NULL,
  type          text        NOT NULL CHECK (type IN ('credit.unreadable')),
  at            timestamptz NOT NULL DEFAULT now(),
  figures       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  alert_sent_at timestamptz,
  last_error    text
);
CREATE INDEX credit_alerts_unsent ON credit_alerts (client_id) WHERE alert_sent_at IS NULL;

ALTER TABLE monitoring_alert_deliveries DROP CONSTRAINT IF EXISTS monitoring_alert_deliveries_kind_check;
ALTER TABLE monitoring_alert_deliveries ADD CONSTRAINT monitoring_alert_deliveries_kind_check CHECK (kind IN ('registration', 'gateway', 'credit'));

`,
};
