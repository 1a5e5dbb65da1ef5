import type { Migration } from '../migrator';

/**
 * REST API keys. The secret is never stored: only sha256(secret). The secret is 256 random bits, so
 * a slow password hash would add nothing against guessing and would cost a KDF run per request;
 * the lookup prefix (random, unique) finds the row without scanning.
 */
export const migration002: Migration = {
  version: '002-api-keys',
  sql: `
CREATE TABLE api_keys (
  id            bigserial   PRIMARY KEY,
  prefix        text        NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{8,32}$'),
  secret_sha256 bytea       NOT NULL CHECK (length(secret_sha256) = 32),
  name          text        NOT NULL,
  scope         text        NOT NULL CHECK (scope IN ('tenant', 'admin')),
  service_id    bigint,
  access        text        NOT NULL CHECK (access IN ('read', 'read-write')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text        NOT NULL,
  revoked_at    timestamptz,
  last_used_at  timestamptz,
  last_used_ip  text,
  CHECK ((scope = 'tenant') = (service_id IS NOT NULL))
);
CREATE INDEX api_keys_service ON api_keys (service_id) WHERE service_id IS NOT NULL;
`,
};
