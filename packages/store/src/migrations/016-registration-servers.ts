import type { Migration } from '../migrator';

/**
 * Registration monitoring, the steady poll without writes (issue 18): a worker keeps each server's
 * `registrations` rows in memory and writes only the extensions whose state or figures changed.
 * `state_token` is replaced (under the server's advisory lock) before any poll writes that server's
 * rows, so a worker whose copy carries another token reads the rows again instead of trusting it;
 * `polled_at` is the last poll applied (an older poll arriving late applies nothing) and the time a
 * phone still registered was last seen.
 */
export const migration016: Migration = {
  version: '016-registration-servers',
  sql: `
CREATE TABLE registration_servers (
  server          text        PRIMARY KEY,
  state_token     text        NOT NULL,
  polled_at       timestamptz NOT NULL
);
`,
};
