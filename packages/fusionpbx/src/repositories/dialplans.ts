import { type CanonicalRow, type DesiredRow, type Tx, insertRows, newUuid, selectRows } from '../db';

/** v_dialplans + v_dialplan_details. FreeSWITCH executes only dialplan_xml; the details let the GUI edit it. */

export function listDialplans(tx: Tx, domainUuid: string): Promise<CanonicalRow[]> {
  return selectRows(tx, 'select * from v_dialplans where domain_uuid = $1 order by dialplan_order, dialplan_name, dialplan_uuid', [domainUuid]);
}

/** The details of several dialplans in one read, grouped by dialplan_uuid (each group in the GUI's order). */
async function listDetails(tx: Tx, dialplanUuids: string[]): Promise<Map<string, CanonicalRow[]>> {
  const byDialplan = new Map<string, CanonicalRow[]>();
  if (dialplanUuids.length === 0) return byDialplan;
  const rows = await selectRows(
    tx,
    'select * from v_dialplan_details where dialplan_uuid = any($1) order by dialplan_uuid, dialplan_detail_group, dialplan_detail_order, dialplan_detail_uuid',
    [dialplanUuids],
  );
  for (const row of rows) {
    const key = (row.dialplan_uuid ?? '').toLowerCase();
    byDialplan.set(key, [...(byDialplan.get(key) ?? []), row]);
  }
  return byDialplan;
}

const AUDIT = new Set(['insert_date', 'insert_user', 'update_date', 'update_user']);

function copyColumns(row: CanonicalRow, skip: string[]): Record<string, string | null> {
  const copy: Record<string, string | null> = {};
  for (const [column, value] of Object.entries(row)) {
    if (AUDIT.has(column) || skip.includes(column)) continue;
    copy[column] = value;
  }
  return copy;
}

export interface DomainRef {
  uuid: string;
  name: string;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Substitute = (text: string | null) => string | null;

function substitution(pairs: [string, string][]): Substitute {
  return (text) => (text === null ? null : pairs.reduce((result, [from, to]) => result.split(from).join(to), text));
}

/** Same dedup rule as FusionPBX's dialplan->import(): app_uuid per domain (name when app_uuid is NULL). */
function alreadyPresent(existing: CanonicalRow[], template: CanonicalRow): boolean {
  if (template.app_uuid) return existing.some((row) => row.app_uuid === template.app_uuid);
  return existing.some((row) => row.app_uuid === null && row.dialplan_name === template.dialplan_name);
}

/**
 * Copies the template domain's dialplans that the target lacks: context, domain name, domain uuid
 * and dialplan uuid are substituted in the row, its XML and its details. Returns how many it added.
 */
export async function cloneDialplans(tx: Tx, template: DomainRef, target: DomainRef): Promise<number> {
  const templates = await listDialplans(tx, template.uuid);
  const existing = await listDialplans(tx, target.uuid);
  const missing = templates.filter((source) => !alreadyPresent(existing, source));
  const details = await listDetails(
    tx,
    missing.map((source) => source.dialplan_uuid as string),
  );
  const dialplanRows: DesiredRow[] = [];
  const detailRows: DesiredRow[] = [];
  for (const source of missing) {
    const dialplanUuid = newUuid();
    const substitute = substitution([
      // Regex-escaped form first (conditions such as expression="^tenant\.example\.com$").
      [escapeRegex(template.name), escapeRegex(target.name)],
      [template.name, target.name],
      [template.uuid, target.uuid],
      [source.dialplan_uuid as string, dialplanUuid],
    ]);
    const row = copyColumns(source, ['dialplan_uuid', 'domain_uuid']);
    for (const column of ['dialplan_context', 'dialplan_xml', 'dialplan_number', 'dialplan_destination', 'dialplan_description']) {
      if (column in row) row[column] = substitute(row[column]);
    }
    dialplanRows.push({ ...row, dialplan_uuid: dialplanUuid, domain_uuid: target.uuid });
    for (const detail of details.get((source.dialplan_uuid as string).toLowerCase()) ?? []) {
      const detailRow = copyColumns(detail, ['dialplan_detail_uuid', 'dialplan_uuid', 'domain_uuid']);
      detailRow.dialplan_detail_data = substitute(detailRow.dialplan_detail_data ?? null);
      detailRows.push({
        ...detailRow,
        dialplan_detail_uuid: newUuid(),
        dialplan_uuid: dialplanUuid,
        domain_uuid: target.uuid,
      });
    }
  }
  // One multi-row INSERT per table (dialplans first: details reference them).
  if (dialplanRows.length > 0) await insertRows(tx, 'v_dialplans', dialplanRows);
  if (detailRows.length > 0) await insertRows(tx, 'v_dialplan_details', detailRows);
  return missing.length;
}
