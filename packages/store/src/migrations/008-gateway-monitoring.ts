import type { Migration } from '../migrator';

/**
 * Gateway monitoring (issue 18), beside registration monitoring. `gateway_states` is the last
 * observation of every enabled gateway of an active tenant per FusionPBX server: `state` is
 * FreeSWITCH's (REGED, FAIL_WAIT, UNREGED, NOREG, …; NOT_RUNNING when `sofia xmlstatus gateway`
 * answers `Invalid Gateway!`), `failing_since` the first poll that found it failing, `down` whether
 * the grace period has run out (and a "down" transition was recorded). `gateway_history` holds each
 * transition once (the failing episode is named by its `failing_since`) and is the alert outbox.
 */
export const migration008: Migration = {
  version: '008-gateway-monitoring',
  sql: `
CREATE TABLE gateway_states (
  server          text        NOT NULL,
  gateway_uuid    text        NOT NULL,
  gateway_name    text,
  domain          text        NOT NULL,
  service_id      bigint      NOT NULL,
  register        boolean     NOT NULL,
  state           text,
  status          text,
  down            boolean     NOT NULL DEFAULT false,
  failing_since   timestamptz,
  last_ok         timestamptz,
  last_change     timestamptz NOT NULL,
  last_polled_at  timestamptz NOT NULL,
  PRIMARY KEY (server, gateway_uuid)
);
CREATE INDEX gateway_states_service ON gateway_states (service_id);

CREATE TABLE gateway_history (
  id              bigserial   PRIMARY KEY,
  server          text        NOT NULL,
  gateway_uuid    text        NOT NULL,
  gateway_name    text,
  domain          text        NOT NULL,
  service_id      bigint      NOT NULL,
  transition      text        NOT NULL CHECK (transition IN ('down', 'up')),
  at              timestamptz NOT NULL,
  failing_since   timestamptz NOT NULL,
  figures         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  alert_sent_at   timestamptz,
  alert_attempts  integer     NOT NULL DEFAULT 0,
  alert_error     text,
  UNIQUE (server, gateway_uuid, failing_since, transition)
);
CREATE INDEX gateway_history_service ON gateway_history (service_id, id);
CREATE INDEX gateway_history_unsent ON gateway_history (id) WHERE alert_sent_at IS NULL;
`,
};
