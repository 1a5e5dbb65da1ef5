import type { Migration } from '../migrator';

/**
 * Monitoring alerts exactly once, and the watch scope (issue 18).
 *
 * `monitoring_alert_deliveries` is one row per alert, per channel and recipient (the signed webhook,
 * a tenant's extra webhook, the client's WHMCS e-mail). Its `state` is a small state machine a
 * delivery claims with one conditional UPDATE, so two workers never send the same row:
 * `pending` → `sending` (claimed, committed before the call) → `sent`; a refused call goes back to
 * `pending` (retried); a call whose outcome is unknown (a worker killed between the call and the
 * mark, a WHMCS timeout after the request was sent) becomes `unknown` for an e-mail (WHMCS has no
 * idempotency key: never sent twice) and is sent again for a webhook (its `X-Ictvoip-Delivery`
 * idempotency key lets the receiver drop the repeat). `failed` is a definitive refusal given up on.
 *
 * `monitoring_watch` overrides a tenant's watch scope from the plan (`all`, `marked`, `off`) and holds
 * its extra alert recipients; `monitoring_watch_extensions` marks extensions for the `marked` scope.
 */
export const migration012: Migration = {
  version: '012-monitoring-alerts-watch',
  sql: `
CREATE TABLE monitoring_alert_deliveries (
  id              bigserial   PRIMARY KEY,
  kind            text        NOT NULL CHECK (kind IN ('registration', 'gateway')),
  history_id      bigint      NOT NULL,
  channel         text        NOT NULL CHECK (channel IN ('webhook', 'email')),
  recipient       text        NOT NULL,
  state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'unknown', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  claimed_at      timestamptz,
  sent_at         timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, history_id, channel, recipient)
);
CREATE INDEX monitoring_alert_deliveries_open ON monitoring_alert_deliveries (kind, history_id) WHERE state IN ('pending', 'sending');

CREATE TABLE monitoring_watch (
  service_id      bigint      PRIMARY KEY,
  scope           text        CHECK (scope IN ('all', 'marked', 'off')),
  recipients      jsonb       NOT NULL DEFAULT '[]'::jsonb,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE monitoring_watch_extensions (
  service_id      bigint      NOT NULL,
  extension       text        NOT NULL,
  marked_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service_id, extension)
);
`,
};
