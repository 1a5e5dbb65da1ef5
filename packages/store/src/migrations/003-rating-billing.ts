import type { Migration } from '../migrator';

/**
 * Rate decks, rated CDR charges, per-tenant CDR sync cursors, billing batches and adjustments.
 * Money is numeric(18,6) (exact micro-units); an invoice line is numeric(18,2). Constraints, not
 * code, guarantee the money rules: a charge's primary key is the CDR uuid (charged at most once),
 * only a rated charge has an amount (an unrated call is never priced at 0), a charge belongs to at
 * most one batch, and one batch exists per service, period and category.
 */
export const migration003: Migration = {
  version: '003-rating-billing',
  sql: `
CREATE TABLE rate_decks (
  deck_id                bigserial   PRIMARY KEY,
  name                   text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
  currency               char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  country_code           text        NOT NULL CHECK (country_code ~ '^[1-9][0-9]{0,2}$'),
  national_prefix        text        NOT NULL DEFAULT '0' CHECK (national_prefix ~ '^[0-9]{0,3}$'),
  international_prefixes text[]      NOT NULL DEFAULT ARRAY['00'],
  bare_numbers           text        NOT NULL DEFAULT 'national' CHECK (bare_numbers IN ('national', 'international')),
  markup_percent         numeric(12,6) NOT NULL DEFAULT 0 CHECK (markup_percent >= 0),
  markup_per_minute      numeric(18,6) NOT NULL DEFAULT 0 CHECK (markup_per_minute >= 0),
  markup_per_call        numeric(18,6) NOT NULL DEFAULT 0 CHECK (markup_per_call >= 0),
  revision               integer     NOT NULL DEFAULT 1,
  entry_count            integer     NOT NULL DEFAULT 0,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rate_entries (
  deck_id              bigint        NOT NULL REFERENCES rate_decks (deck_id) ON DELETE CASCADE,
  prefix               text          NOT NULL CHECK (prefix ~ '^[0-9]{1,15}$'),
  destination          text          NOT NULL,
  rate_per_minute      numeric(18,6) NOT NULL CHECK (rate_per_minute >= 0),
  connect_fee          numeric(18,6) NOT NULL CHECK (connect_fee >= 0),
  initial_increment    integer       NOT NULL CHECK (initial_increment >= 1),
  subsequent_increment integer       NOT NULL CHECK (subsequent_increment >= 1),
  effective_from       timestamptz   NOT NULL,
  effective_to         timestamptz   CHECK (effective_to IS NULL OR effective_to > effective_from),
  source_line          integer,
  PRIMARY KEY (deck_id, prefix, effective_from)
);

-- A WHMCS plan's "Rate deck" setting (plan.rateDeck) names a row here; markup columns left NULL
-- fall back to the deck's own markup.
CREATE TABLE plan_rate_decks (
  plan_key          text          PRIMARY KEY,
  deck_id           bigint        NOT NULL REFERENCES rate_decks (deck_id),
  markup_percent    numeric(12,6) CHECK (markup_percent >= 0),
  markup_per_minute numeric(18,6) CHECK (markup_per_minute >= 0),
  markup_per_call   numeric(18,6) CHECK (markup_per_call >= 0),
  updated_at        timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE billing_batches (
  batch_id              text          PRIMARY KEY CHECK (batch_id ~ '^b-[0-9]+-[0-9]{4}-[0-9]{2}(-[a-z]+)?$'),
  service_id            bigint        NOT NULL,
  client_id             bigint        NOT NULL,
  period                text          NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  category              text          NOT NULL DEFAULT 'calls',
  currency              char(3),
  state                 text          NOT NULL CHECK (state IN ('open', 'pushing', 'unknown', 'pushed', 'failed', 'zero')),
  total                 numeric(18,6) NOT NULL,
  line_amount           numeric(18,2) NOT NULL,
  call_count            integer       NOT NULL,
  billed_seconds        bigint        NOT NULL,
  adjustment_total      numeric(18,6) NOT NULL DEFAULT 0,
  description           text          NOT NULL,
  push_token            text          NOT NULL UNIQUE,
  whmcs_billable_id     bigint,
  whmcs_invoice_id      bigint,
  whmcs_invoice_item_id bigint,
  attempts              integer       NOT NULL DEFAULT 0,
  last_error            text,
  last_error_code       text,
  push_started_at       timestamptz,
  ambiguous_at          timestamptz,
  pushed_at             timestamptz,
  created_at            timestamptz   NOT NULL DEFAULT now(),
  updated_at            timestamptz   NOT NULL DEFAULT now(),
  UNIQUE (service_id, period, category),
  CHECK (state <> 'pushed' OR whmcs_billable_id IS NOT NULL OR whmcs_invoice_item_id IS NOT NULL)
);
CREATE INDEX billing_batches_unfinished ON billing_batches (service_id) WHERE state NOT IN ('pushed', 'zero');

CREATE TABLE cdr_charges (
  xml_cdr_uuid     uuid          PRIMARY KEY,
  service_id       bigint        NOT NULL,
  domain_name      text          NOT NULL,
  start_stamp      timestamptz   NOT NULL,
  direction        text          NOT NULL,
  destination      text,
  billsec          integer       NOT NULL CHECK (billsec >= 0),
  billable_seconds integer       NOT NULL DEFAULT 0,
  included_seconds integer       NOT NULL DEFAULT 0,
  amount           numeric(18,6),
  currency         char(3),
  status           text          NOT NULL CHECK (status IN ('rated', 'unrated', 'not_billable')),
  reason           text,
  deck_id          bigint,
  deck_revision    integer,
  period           text          NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  batch_id         text          REFERENCES billing_batches (batch_id),
  rated_at         timestamptz   NOT NULL DEFAULT now(),
  CHECK ((status = 'rated') = (amount IS NOT NULL)),
  CHECK (status = 'rated' OR batch_id IS NULL)
);
CREATE INDEX cdr_charges_service_period ON cdr_charges (service_id, period, start_stamp);
CREATE INDEX cdr_charges_unbilled ON cdr_charges (service_id, period) WHERE batch_id IS NULL AND status = 'rated';
CREATE INDEX cdr_charges_unrated ON cdr_charges (service_id, start_stamp) WHERE status = 'unrated';
CREATE INDEX cdr_charges_batch ON cdr_charges (batch_id) WHERE batch_id IS NOT NULL;

-- Keyset position (start_stamp, xml_cdr_uuid) of the last CDR read forward, per tenant.
CREATE TABLE cdr_sync_cursors (
  service_id        bigint      PRIMARY KEY,
  domain_uuid       uuid        NOT NULL,
  domain_name       text        NOT NULL,
  last_start_stamp  timestamptz NOT NULL,
  last_xml_cdr_uuid uuid        NOT NULL,
  charges_total     bigint      NOT NULL DEFAULT 0,
  last_run_at       timestamptz NOT NULL DEFAULT now(),
  last_run_inserted integer     NOT NULL DEFAULT 0,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Corrections to pushed periods (re-rating), rounding remainders and carried credits; applied to
-- the service's next batch (batch_id set then).
CREATE TABLE billing_adjustments (
  adjustment_id   text          PRIMARY KEY,
  service_id      bigint        NOT NULL,
  kind            text          NOT NULL CHECK (kind IN ('rerate', 'rounding', 'carry', 'manual')),
  amount          numeric(18,6) NOT NULL,
  currency        char(3),
  source_period   text,
  source_batch_id text          REFERENCES billing_batches (batch_id),
  description     text          NOT NULL,
  batch_id        text          REFERENCES billing_batches (batch_id),
  created_at      timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX billing_adjustments_pending ON billing_adjustments (service_id) WHERE batch_id IS NULL;
`,
};
