import type { Migration } from '../migrator';

/**
 * REST writes of one extension or gateway (issue 5) go through a job like provisioning events do;
 * this table is their inbox. The API commits the request here (a generated or given password
 * sealed, never in clear), a worker applies it under the service lock and stores the answer, and
 * any API process reads that answer back. `preimage` is the resource as the first attempt found
 * it, so a removal replayed after a crash still knows what it removed.
 */
export const migration006: Migration = {
  version: '006-tenant-writes',
  sql: `
CREATE TABLE tenant_writes (
  write_id        text        PRIMARY KEY,
  service_id      bigint      NOT NULL,
  resource        text        NOT NULL CHECK (resource IN ('extension', 'gateway')),
  operation       text        NOT NULL CHECK (operation IN ('create', 'upsert', 'update', 'delete')),
  target          text,
  input           jsonb       NOT NULL,
  sealed_secrets  text,
  request_id      text        NOT NULL,
  status          text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'rejected', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  preimage        jsonb,
  http_status     integer,
  result          jsonb,
  error           jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX tenant_writes_unfinished ON tenant_writes (updated_at) WHERE status IN ('queued', 'running');
CREATE INDEX tenant_writes_finished ON tenant_writes (finished_at) WHERE finished_at IS NOT NULL;
`,
};
