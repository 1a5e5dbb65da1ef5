import type { Migration } from '../migrator';

/**
 * The FreeSWITCH side a global gateway write still owes its server (the event socket refused it):
 * its `freeswitch.apply` job's steps, kept in PostgreSQL as a tenant's backlog is in
 * services.pending_apply, so the reconciler adds the job again after its attempts ran out or Redis
 * lost it. The job deletes its row once FreeSWITCH took the steps; the reconciler deletes the row of
 * a server removed or disabled since. No foreign key to tenant_writes: the write's answer is
 * purged after 30 days, what FreeSWITCH owes is not.
 */
export const migration028: Migration = {
  version: '028-global-freeswitch-applies',
  sql: `
CREATE TABLE global_freeswitch_applies (
  job_id text PRIMARY KEY,
  write_id text NOT NULL,
  request_id text NOT NULL,
  server text,
  steps jsonb NOT NULL,
  since timestamptz NOT NULL DEFAULT now()
);
`,
};
