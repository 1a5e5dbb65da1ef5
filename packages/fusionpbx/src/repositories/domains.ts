import { type CanonicalRow, type Tx, convergeRow, insertRow, newUuid, selectRows } from '../db';

/** v_domains. The name is unique only by PHP convention (lower(domain_name)); callers hold the domain lock. */

export async function findDomainByName(tx: Tx, domainName: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_domains where lower(domain_name) = lower($1) order by insert_date nulls first', [domainName]);
  return rows[0] ?? null;
}

export async function findDomainByUuid(tx: Tx, domainUuid: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_domains where domain_uuid = $1', [domainUuid]);
  return rows[0] ?? null;
}

/** Row lock on the domain so concurrent writers of the same tenant queue up behind us. */
export async function lockDomainRow(tx: Tx, domainUuid: string): Promise<void> {
  await tx.client.query('select 1 from v_domains where domain_uuid = $1 for update', [domainUuid]);
}

export async function insertDomain(tx: Tx, domainName: string, description: string | null): Promise<CanonicalRow> {
  const domainUuid = newUuid();
  await insertRow(tx, 'v_domains', {
    domain_uuid: domainUuid,
    domain_parent_uuid: null,
    domain_name: domainName,
    domain_enabled: true,
    domain_description: description,
  });
  const row = await findDomainByUuid(tx, domainUuid);
  if (!row) throw new Error('inserted domain vanished');
  return row;
}

export function setDomainEnabled(tx: Tx, domain: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_domains', 'domain_uuid', domain, { domain_enabled: enabled });
}
