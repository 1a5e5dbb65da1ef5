import { type CanonicalRow, type DesiredRow, type Tx, convergeRow, convergeRowsTo, insertRow, insertRows, selectRows } from '../db';

/** v_extensions. Uniqueness of extension/number_alias per domain is ours to enforce (PHP-only in FusionPBX). */

export function listExtensions(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_extensions where domain_uuid = $1 order by extension, extension_uuid', [domainUuid]);
}

/**
 * The columns provisioning reads (uniqueness, enabled state, newest-first order, cache keys), not the
 * ~65 of `select *`. Enough for setExtensionEnabled, which compares and writes `enabled` only.
 */
export function listExtensionStates(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(
    tx,
    'select extension_uuid, domain_uuid, extension, number_alias, enabled, insert_date from v_extensions where domain_uuid = $1 order by extension, extension_uuid',
    [domainUuid],
  );
}

/** Rows whose extension or number_alias equals `number` (enabled or not). */
export function findExtensionUsers(tx: Tx, domainUuid: string, number: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_extensions where domain_uuid = $1 and (extension = $2 or number_alias = $2) order by extension_uuid', [domainUuid, number]);
}

export async function insertExtension(tx: Tx, row: DesiredRow): Promise<void> {
  await insertRow(tx, 'v_extensions', row);
}

/** Several new extensions in one statement (per column list). */
export async function insertExtensions(tx: Tx, rows: readonly DesiredRow[]): Promise<void> {
  if (rows.length > 0) await insertRows(tx, 'v_extensions', rows);
}

export function setExtensionEnabled(tx: Tx, extension: CanonicalRow, enabled: boolean): Promise<boolean> {
  return convergeRow(tx, 'v_extensions', 'extension_uuid', extension, { enabled });
}

/** The same flag on many extensions in one UPDATE (rows already in that state are left alone). */
export function setExtensionsEnabled(tx: Tx, extensions: readonly CanonicalRow[], enabled: boolean): Promise<number> {
  return convergeRowsTo(tx, 'v_extensions', 'extension_uuid', extensions, { enabled });
}
