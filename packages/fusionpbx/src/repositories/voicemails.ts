import { type CanonicalRow, type DesiredRow, type Tx, insertRow, selectRows } from '../db';

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
