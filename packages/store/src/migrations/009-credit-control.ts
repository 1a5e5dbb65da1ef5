import type { Migration } from '../migrator';

/**
 * Credit control (issue 16). `credit_states` is one row per service under credit control: its
 * state (ok / low / zero), the crossing counter that names each entry into low or zero (so a mail
 * goes out once per crossing), who restricted the service (`bridge` = the bridge for credit, so it
 * may lift it; `other` = an operator, an overdue invoice, fraud: never lifted by the bridge), the
 * WHMCS action decided but not yet confirmed (`pending_action`, written BEFORE the call so a crash
 * is resolved by reading WHMCS, never by calling twice), the FusionPBX gateways an outbound
 * restriction disabled (recorded before they are disabled, so exactly those are enabled again) and
 * the figures of the last check.
 * `credit_mails` is the mail outbox: one row per service, kind and crossing; a row left `sending`
 * by a crash becomes `unknown` and is never sent again (a missing reminder is cheaper than two).
 */
export const migration009: Migration = {
  version: '009-credit-control',
  sql: `
CREATE TABLE credit_states (
  service_id          bigint        PRIMARY KEY,
  client_id           bigint        NOT NULL,
  state               text          NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'low', 'zero')),
  crossing            integer       NOT NULL DEFAULT 0,
  restriction         text          CHECK (restriction IN ('suspend', 'outbound')),
  suspended_by        text          CHECK (suspended_by IN ('bridge', 'other')),
  pending_action      text          CHECK (pending_action IN ('restrict', 'lift')),
  pending_since       timestamptz,
  restricted_gateways text[]        NOT NULL DEFAULT '{}',
  credit              numeric(18,6),
  credit_limit        numeric(18,6),
  usage               numeric(18,6),
  available           numeric(18,6),
  threshold           numeric(18,6),
  currency            text,
  unreadable_since    timestamptz,
  unreadable_alerted  boolean       NOT NULL DEFAULT false,
  last_error          text,
  last_checked_at     timestamptz,
  last_transition     text,
  last_transition_at  timestamptz,
  updated_at          timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX credit_states_client ON credit_states (client_id);
CREATE INDEX credit_states_pending ON credit_states (service_id) WHERE pending_action IS NOT NULL;

CREATE TABLE credit_mails (
  service_id  bigint      NOT NULL,
  kind        text        NOT NULL CHECK (kind IN ('low', 'zero')),
  crossing    integer     NOT NULL,
  client_id   bigint      NOT NULL,
  template    text        NOT NULL,
  custom_vars jsonb       NOT NULL DEFAULT '{}'::jsonb,
  state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'unknown', 'failed')),
  last_error  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service_id, kind, crossing)
);
CREATE INDEX credit_mails_open ON credit_mails (service_id) WHERE state IN ('pending', 'sending');

-- Prepaid usage invoiced (CreateInvoice, token in the notes) and paid from credit (ApplyCredit), at
-- most one per service and day; a charge is on a prepaid invoice or in a batch, never both.
CREATE TABLE prepaid_invoices (
  invoice_key      text          PRIMARY KEY CHECK (invoice_key ~ '^pp-[0-9]+-[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
  service_id       bigint        NOT NULL,
  client_id        bigint        NOT NULL,
  day              date          NOT NULL,
  state            text          NOT NULL CHECK (state IN ('creating', 'unknown', 'created', 'paid')),
  total            numeric(18,6) NOT NULL,
  line_amount      numeric(18,2) NOT NULL CHECK (line_amount > 0),
  call_count       integer       NOT NULL,
  billed_seconds   bigint        NOT NULL,
  currency         char(3),
  description      text          NOT NULL,
  token            text          NOT NULL UNIQUE,
  whmcs_invoice_id bigint,
  credit_applied   numeric(18,2) NOT NULL DEFAULT 0,
  attempts         integer       NOT NULL DEFAULT 0,
  last_error       text,
  created_at       timestamptz   NOT NULL DEFAULT now(),
  updated_at       timestamptz   NOT NULL DEFAULT now(),
  paid_at          timestamptz,
  UNIQUE (service_id, day),
  CHECK (state NOT IN ('created', 'paid') OR whmcs_invoice_id IS NOT NULL)
);
CREATE INDEX prepaid_invoices_open ON prepaid_invoices (service_id) WHERE state <> 'paid';
ALTER TABLE cdr_charges ADD COLUMN prepaid_invoice text REFERENCES prepaid_invoices (invoice_key);
ALTER TABLE cdr_charges ADD CONSTRAINT cdr_charges_billed_once CHECK (batch_id IS NULL OR prepaid_invoice IS NULL);
CREATE INDEX cdr_charges_prepaid ON cdr_charges (prepaid_invoice) WHERE prepaid_invoice IS NOT NULL;
`,
};
