import type { Migration } from '../migrator';

/**
 * Several FusionPBX servers (issue 9). The registry holds every server besides the default one
 * (the FUSIONPBX_DATABASE_URL / ESL_* environment); its database URL and event-socket password are
 * sealed (AES-256-GCM, see sealed-secrets.ts), never stored in clear. `services.fusionpbx_server`
 * binds a tenant to its server once, at its first event: NULL is the default server, which is what
 * every service created before this migration lives on. ON DELETE RESTRICT keeps a server that
 * still has tenants from being removed.
 */
export const migration005: Migration = {
  version: '005-fusionpbx-servers',
  sql: `
CREATE TABLE fusionpbx_servers (
  name             text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND name <> 'default'),
  whmcs_server_id  integer     UNIQUE CHECK (whmcs_server_id > 0),
  whmcs_hostname   text,
  database_url     text        NOT NULL,
  esl_host         text        NOT NULL,
  esl_port         integer     NOT NULL CHECK (esl_port BETWEEN 1 AND 65535),
  esl_password     text        NOT NULL,
  enabled          boolean     NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX fusionpbx_servers_hostname ON fusionpbx_servers (lower(whmcs_hostname)) WHERE whmcs_hostname IS NOT NULL;
ALTER TABLE services ADD COLUMN fusionpbx_server text REFERENCES fusionpbx_servers (name) ON DELETE RESTRICT;
CREATE INDEX services_fusionpbx_server ON services (fusionpbx_server) WHERE fusionpbx_server IS NOT NULL;
`,
};
