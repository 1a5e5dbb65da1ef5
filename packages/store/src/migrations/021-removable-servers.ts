import type { Migration } from '../migrator';

/**
 * A decommissioned FusionPBX server can be removed from the registry once none of its services is
 * live. Its purged services keep the name of the server they lived on (history; a new create of one
 * is refused as FUSIONPBX_SERVER_UNKNOWN rather than sent to the default server), so the foreign key
 * that refused any delete while a purged service still named the server goes: `servers remove`
 * counts the live services itself, with the services table share-locked so none is bound meanwhile.
 */
export const migration021: Migration = {
  version: '021-removable-servers',
  sql: `
ALTER TABLE services DROP CONSTRAINT IF EXISTS services_fusionpbx_server_fkey;
`,
};
