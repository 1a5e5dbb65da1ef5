import { type CanonicalRow, type Tx, convergeRow, insertRow, newUuid, recordWrite, selectRows } from '../db';

/** v_domain_settings: per-domain overrides (branding) and the bridge's own metadata rows. */

export interface DomainSetting {
  category: string;
  subcategory: string;
  /** FusionPBX's "type" column: text | numeric | boolean | array | uuid | dir. */
  name: string;
  value: string;
  order: number;
  enabled: boolean;
  description: string | null;
}

export function listSettings(tx: Tx, domainUuid: string, category: string): Promise<CanonicalRow[]> {
  return selectRows(
    tx,
    `select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = $2
      order by domain_setting_subcategory, domain_setting_order, domain_setting_uuid`,
    [domainUuid, category],
  );
}

export async function findSetting(tx: Tx, domainUuid: string, category: string, subcategory: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(
    tx,
    `select * from v_domain_settings where domain_uuid = $1 and domain_setting_category = $2
      and domain_setting_subcategory = $3 order by domain_setting_order, domain_setting_uuid`,
    [domainUuid, category, subcategory],
  );
  return rows[0] ?? null;
}

/**
 * Every setting row of one domain, read once, answering findSetting and listSettings the way their
 * queries would (same order). Valid while each (category, subcategory) is written at most once, as a
 * converge does.
 */
export class SettingsSnapshot {
  constructor(private readonly rows: readonly CanonicalRow[]) {}

  find(category: string, subcategory: string): CanonicalRow | null {
    return this.rows.find((row) => row.domain_setting_category === category && row.domain_setting_subcategory === subcategory) ?? null;
  }

  list(category: string): CanonicalRow[] {
    return this.rows.filter((row) => row.domain_setting_category === category);
  }
}

export async function loadSettings(tx: Tx, domainUuid: string): Promise<SettingsSnapshot> {
  const rows = await selectRows(
    tx,
    `select * from v_domain_settings where domain_uuid = $1
      order by domain_setting_category, domain_setting_subcategory, domain_setting_order, domain_setting_uuid`,
    [domainUuid],
  );
  return new SettingsSnapshot(rows);
}

function desiredColumns(domainUuid: string, setting: DomainSetting) {
  return {
    domain_uuid: domainUuid,
    app_uuid: null,
    domain_setting_category: setting.category,
    domain_setting_subcategory: setting.subcategory,
    domain_setting_name: setting.name,
    domain_setting_value: setting.value,
    domain_setting_order: setting.order,
    domain_setting_enabled: setting.enabled,
    domain_setting_description: setting.description,
  };
}

/** Creates or converges the single row (domain, category, subcategory). Returns true when it wrote. */
export async function upsertSetting(tx: Tx, domainUuid: string, setting: DomainSetting, snapshot?: SettingsSnapshot): Promise<boolean> {
  const existing = snapshot ? snapshot.find(setting.category, setting.subcategory) : await findSetting(tx, domainUuid, setting.category, setting.subcategory);
  if (existing) return convergeRow(tx, 'v_domain_settings', 'domain_setting_uuid', existing, desiredColumns(domainUuid, setting));
  await insertRow(tx, 'v_domain_settings', { domain_setting_uuid: newUuid(), ...desiredColumns(domainUuid, setting) });
  return true;
}

export async function deleteSetting(tx: Tx, domainUuid: string, category: string, subcategory: string): Promise<boolean> {
  const result = await tx.client.query('delete from v_domain_settings where domain_uuid = $1 and domain_setting_category = $2 and domain_setting_subcategory = $3', [
    domainUuid,
    category,
    subcategory,
  ]);
  if (result.rowCount)
    recordWrite(tx, {
      table: 'v_domain_settings',
      op: 'delete',
      key: null,
      columns: { domain_uuid: domainUuid, domain_setting_category: category, domain_setting_subcategory: subcategory },
    });
  return (result.rowCount ?? 0) > 0;
}

/** Deletes one row (by its uuid), leaving any other row of the same key alone. */
export async function deleteSettingRow(tx: Tx, row: CanonicalRow): Promise<boolean> {
  const result = await tx.client.query('delete from v_domain_settings where domain_setting_uuid = $1', [row.domain_setting_uuid]);
  if (result.rowCount)
    recordWrite(tx, {
      table: 'v_domain_settings',
      op: 'delete',
      key: row.domain_setting_uuid ?? null,
      columns: { domain_uuid: row.domain_uuid, domain_setting_category: row.domain_setting_category, domain_setting_subcategory: row.domain_setting_subcategory },
    });
  return (result.rowCount ?? 0) > 0;
}

/** Domains carrying the metadata row (category, subcategory) = value. */
export async function findDomainsBySetting(tx: Tx, category: string, subcategory: string, value: string): Promise<string[]> {
  const rows = await selectRows(
    tx,
    `select distinct domain_uuid from v_domain_settings
      where domain_setting_category = $1 and domain_setting_subcategory = $2 and domain_setting_value = $3`,
    [category, subcategory, value],
  );
  return rows.map((row) => row.domain_uuid).filter((uuid): uuid is string => uuid !== null);
}
