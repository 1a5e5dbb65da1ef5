import type { Migration } from '../migrator';

/**
 * A create's domain-conflict check (ServicesRepository.domainHolder) compares `lower(tenant_domain)`:
 * the unique index on `tenant_domain` itself cannot answer that, so every create scanned the whole
 * services table, a cost growing with the install (issue #20). The index's expression is the query's
 * exactly. Not CONCURRENTLY: migrations run in a transaction; the build holds off writes to services
 * for as long as it takes to index one short text per service.
 */
export const migration024: Migration = {
  version: '024-services-domain-lower',
  sql: `
CREATE INDEX services_tenant_domain_lower ON services (lower(tenant_domain));
`,
};
