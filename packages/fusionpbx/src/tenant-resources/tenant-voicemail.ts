import type { Pool } from 'pg';

export interface VoicemailCount {
  /** The mailbox id (the extension's number in FusionPBX). */
  mailbox: string;
  newMessages: number;
  savedMessages: number;
}

/**
 * Messages per mailbox of the domain, counted like FusionPBX's voicemail scripts do
 * (resources/functions/mwi_notify and app.lua): new = no status or '', saved = 'saved'.
 */
export async function tenantVoicemailCounts(pool: Pool, domainUuid: string): Promise<VoicemailCount[]> {
  // A database without the messages table (no voicemail app installed) has mailboxes without messages.
  const { rows: present } = await pool.query<{ present: boolean }>(`select to_regclass('v_voicemail_messages') is not null as present`);
  const messages = present[0]?.present
    ? 'v_voicemail_messages'
    : '(select null::uuid as voicemail_message_uuid, null::uuid as voicemail_uuid, null::text as message_status where false)';
  const { rows } = await pool.query<{ mailbox: string; new_messages: number; saved_messages: number }>(
    `select v.voicemail_id::text as mailbox,
            count(m.voicemail_message_uuid) filter (where m.message_status is null or m.message_status = '')::int as new_messages,
            count(m.voicemail_message_uuid) filter (where m.message_status = 'saved')::int as saved_messages
       from v_voicemails v left join ${messages} m on m.voicemail_uuid = v.voicemail_uuid
      where v.domain_uuid = $1
      group by v.voicemail_id`,
    [domainUuid],
  );
  return rows.map((row) => ({ mailbox: row.mailbox, newMessages: row.new_messages, savedMessages: row.saved_messages }));
}
