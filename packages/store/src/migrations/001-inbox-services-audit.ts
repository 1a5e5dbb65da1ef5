import type { Migration } from '../migrator';

export const migration001: Migration = {
  version: '001-inbox-services-audit',
  sql: `
CREATE TABLE webhook_inbox (
  seq            bigserial   NOT NULL UNIQUE,
  event_id       uuid        PRIMARY KEY,
  body_hash      text        NOT NULL,
  action         text        NOT NULL,
  service_id     bigint      NOT NULL,
  client_id      bigint      NOT NULL,
  payload        jsonb       NOT NULL,
  sealed_secrets text,
  status         text        NOT NULL DEFAULT 'received'
                 CHECK (status IN ('received', 'queued', 'running', 'pending_apply', 'succeeded', 'failed')),
  job_id         text,
  attempts       integer     NOT NULL DEFAULT 0,
  result         jsonb,
  last_error     text,
  retryable      boolean,
  request_id     text,
  received_at    timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz
);
CREATE INDEX webhook_inbox_unfinished ON webhook_inbox (updated_at) WHERE status NOT IN ('succeeded', 'failed');
CREATE INDEX webhook_inbox_service ON webhook_inbox (service_id, seq);

CREATE TABLE services (
  service_id      bigint      PRIMARY KEY,
  client_id       bigint      NOT NULL,
  tenant_domain   text,
  desired_state   text        NOT NULL CHECK (desired_state IN ('active', 'suspended', 'terminated')),
  observed_state  text,
  generation      integer     NOT NULL DEFAULT 1,
  plan            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  properties      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  pending_apply   jsonb,
  last_event_id   uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX services_tenant_domain ON services (tenant_domain) WHERE tenant_domain IS NOT NULL;

CREATE TABLE audit_log (
  id          bigserial   PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text        NOT NULL,
  action      text        NOT NULL,
  service_id  bigint,
  event_id    uuid,
  detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_service ON audit_log (service_id, at);
`,
};
