import { type CanonicalRow, type DesiredRow, type Tx, insertRow, insertRows, selectRows } from '../db';

/** v_voicemails, keyed like the GUI by (domain_uuid, voicemail_id): an existing row is reused, never duplicated. */

export async function findVoicemail(tx: Tx, domainUuid: string, voicemailId: string): Promise<CanonicalRow | null> {
  const rows = await selectRows(tx, 'select * from v_voicemails where domain_uuid = $1 and voicemail_id = $2 order by voicemail_uuid', [domainUuid, voicemailId]);
  return rows[0] ?? null;
}

/** Inserts the row when the mailbox does not exist yet. Returns true when it wrote. */
export async function ensureVoicemail(tx: Tx, row: DesiredRow & { domain_uuid: string; voicemail_id: string }): Promise<boolean> {
  if (await findVoicemail(tx, row.domain_uuid, row.voicemail_id)) return false;
  await insertRow(tx, 'v_voicemails', row);
  return true;
}

/**
 * ensureVoicemail for many mailboxes of one domain: one read of the existing voicemail_ids, one
 * multi-row insert of the missing ones. Returns how many it inserted.
 */
export async function ensureVoicemails(tx: Tx, domainUuid: string, rows: readonly (DesiredRow & { voicemail_id: string })[]): Promise<number> {
  if (rows.length === 0) return 0;
  const existing = await selectRows(tx, 'select voicemail_id from v_voicemails where domain_uuid = $1 and voicemail_id = any($2)', [
    domainUuid,
    rows.map((row) => row.voicemail_id),
  ]);
  const taken = new Set(existing.map((row) => row.voicemail_id));
  const missing = rows.filter((row) => !taken.has(row.voicemail_id) && taken.add(row.voicemail_id));
  if (missing.length > 0) await insertRows(tx, 'v_voicemails', missing);
  return missing.length;
}
