import type { Migration } from '../migrator';

/**
 * Registration monitoring (issue 18). `registrations` is the last observation of every watched
 * extension per FusionPBX server (`server` = 'default' for FUSIONPBX_DATABASE_URL / ESL_*):
 * `registered` is whether the last poll listed it, `missing_since` the first poll that no longer
 * did, `lost` whether the grace period has run out (and a "lost" transition was recorded).
 * `registration_history` holds each transition once: a missing episode is named by its
 * `missing_since`, so a replayed or concurrent poll cannot record the same lost/restored twice.
 * `alert_sent_at` makes it the outbox of the alert webhook.
 */
export const migration007: Migration = {
  version: '007-registrations',
  sql: `
CREATE TABLE registrations (
  server          text        NOT NULL,
  domain          text        NOT NULL,
  extension       text        NOT NULL,
  service_id      bigint      NOT NULL,
  registered      boolean     NOT NULL DEFAULT false,
  lost            boolean     NOT NULL DEFAULT false,
  profile         text,
  contact_ip      text,
  contact_port    integer,
  lan_ip          text,
  user_agent      text,
  expires         text,
  expires_in_seconds integer,
  first_seen      timestamptz,
  last_seen       timestamptz,
  last_change     timestamptz NOT NULL,
  missing_since   timestamptz,
  last_polled_at  timestamptz NOT NULL,
  PRIMARY KEY (server, domain, extension)
);
CREATE INDEX registrations_service ON registrations (service_id);

CREATE TABLE registration_history (
  id              bigserial   PRIMARY KEY,
  server          text        NOT NULL,
  domain          text        NOT NULL,
  extension       text        NOT NULL,
  service_id      bigint      NOT NULL,
  transition      text        NOT NULL CHECK (transition IN ('lost', 'restored')),
  at              timestamptz NOT NULL,
  missing_since   timestamptz NOT NULL,
  figures         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  alert_sent_at   timestamptz,
  alert_attempts  integer     NOT NULL DEFAULT 0,
  alert_error     text,
  UNIQUE (server, domain, extension, missing_since, transition)
);
CREATE INDEX registration_history_service ON registration_history (service_id, id);
CREATE INDEX registration_history_unsent ON registration_history (id) WHERE alert_sent_at IS NULL;
`,
};
