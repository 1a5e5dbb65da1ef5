import type { Migration } from '../migrator';

/**
 * REST writes of a tenant's inbound numbers (issue 15, `/v1/tenants/{t}/destinations`) go through
 * tenant_writes like extensions and gateways: the resource check gains `destination`.
 */
export const migration013: Migration = {
  version: '013-tenant-write-destinations',
  sql: `
ALTER TABLE tenant_writes DROP CONSTRAINT IF EXISTS tenant_writes_resource_check;
ALTER TABLE tenant_writes ADD CONSTRAINT tenant_writes_resource_check CHECK (resource IN ('extension', 'gateway', 'destination'));
`,
};
