import { randomUUID } from 'node:crypto';
import { forgetColumnCatalog, newSipPassword, tenantVoicemailCounts, writeTenantExtension, type ExtensionWriteOptions, type RecordedWrite } from '@ictvoip/fusionpbx';
import { provisioningSuite, tenantEvent } from './helpers';

/**
 * The client area's SIP password reset (an extension update carrying a new password) and its
 * voicemail counts, against the fixture or FUSIONPBX_SCHEMA=fixtures/fusionpbx/schema-5.1.sql / 5.3.
 */
const suite = provisioningSuite('fpbx_ext_reset', 2000);
const SERVICE = 8701;

const options = (extra: Partial<ExtensionWriteOptions> = {}): ExtensionWriteOptions => ({
  serviceId: SERVICE,
  maxEnabledExtensions: null,
  registrationProfile: 'internal',
  ...extra,
});

async function passwordOf(domainUuid: string, extension: string): Promise<string | null> {
  const { rows } = await suite.fx.pool.query<{ password: string | null }>('select password from v_extensions where domain_uuid = $1 and extension = $2', [domainUuid, extension]);
  return rows[0]?.password ?? null;
}

describe(`SIP password reset and voicemail counts (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('an update with a new password sets v_extensions.password only and clears the directory cache; repeating it changes nothing', async () => {
    const created = await suite.provisioner.create(tenantEvent(SERVICE, {}, { maxExtensions: 3 }));
    const before = await passwordOf(created.domainUuid, '100');
    const { rows: beforeRow } = await suite.fx.pool.query('select * from v_extensions where domain_uuid = $1 and extension = $2', [created.domainUuid, '100']);
    const password = newSipPassword();
    const reset = await writeTenantExtension(suite.fx.pool, '100', {}, 'update', options({ newPassword: password, password }));
    expect(reset.outcome).toBe('updated');
    expect(reset.password).toBeUndefined();
    expect(reset.freeswitch).toEqual([{ kind: 'cache_delete', key: `directory:100@${created.domainName}` }]);
    expect(await passwordOf(created.domainUuid, '100')).toBe(password);
    expect(password).not.toBe(before);
    const { rows: afterRow } = await suite.fx.pool.query('select * from v_extensions where domain_uuid = $1 and extension = $2', [created.domainUuid, '100']);
    // Only the password (and update_date where the schema stamps it) differ, like extension_edit.php saving the password field.
    const changed = Object.keys(afterRow[0]).filter((column) => JSON.stringify(afterRow[0][column]) !== JSON.stringify(beforeRow[0][column]));
    expect(changed.filter((column) => !['update_date', 'update_user'].includes(column))).toEqual(['password']);

    const replay = await writeTenantExtension(suite.fx.pool, '100', {}, 'update', options({ newPassword: password, password, forceApply: true }));
    expect(replay.outcome).toBe('unchanged');
    expect(await passwordOf(created.domainUuid, '100')).toBe(password);
    // An update without a new password leaves it as it is.
    await writeTenantExtension(suite.fx.pool, '100', { description: 'desk' }, 'update', options({ password: newSipPassword() }));
    expect(await passwordOf(created.domainUuid, '100')).toBe(password);
  });

  test("a new password reaches the extension's device lines like extension_edit.php: the domain's lines of that user_id only, password only", async () => {
    // The slim fixture has no device tables: FusionPBX's own definition (schema-5.1.sql) where they are missing.
    await suite.fx.pool.query(
      `create table if not exists v_device_lines (domain_uuid uuid, device_line_uuid uuid primary key, device_uuid uuid, line_number text, server_address text, display_name text,
        user_id text, auth_id text, password text, enabled text, insert_date timestamptz, insert_user uuid, update_date timestamptz, update_user uuid)`,
    );
    forgetColumnCatalog(suite.fx.pool);
    const { rows: domains } = await suite.fx.pool.query<{ domain_uuid: string; domain_name: string }>(
      "select domain_uuid, domain_name from v_domains d join v_domain_settings s using (domain_uuid) where s.domain_setting_category = 'ictvoip' and s.domain_setting_subcategory = 'service_id' and s.domain_setting_value = $1",
      [String(SERVICE)],
    );
    const { domain_uuid: domainUuid, domain_name: domainName } = domains[0]!;
    const line = async (userId: string, serverAddress: string, domain = domainUuid) => {
      const uuid = randomUUID();
      await suite.fx.pool.query(
        "insert into v_device_lines (domain_uuid, device_line_uuid, device_uuid, line_number, server_address, user_id, auth_id, password, enabled, update_date) values ($1, $2, $3, '1', $4, $5, $5, 'old-line-password', 'true', '2026-01-01T00:00:00Z')",
        [domain, uuid, randomUUID(), serverAddress, userId],
      );
      return uuid;
    };
    const own = await line('100', domainName);
    const otherNumber = await line('101', domainName);
    const otherServer = await line('100', 'sip.elsewhere.example');
    const otherDomain = await line('100', domainName, randomUUID());
    const lineRow = async (uuid: string) => (await suite.fx.pool.query('select * from v_device_lines where device_line_uuid = $1', [uuid])).rows[0];
    const before = await lineRow(own);

    const password = newSipPassword();
    const reset = await writeTenantExtension(suite.fx.pool, '100', {}, 'update', options({ newPassword: password, password }));
    expect(reset.outcome).toBe('updated');
    expect(await passwordOf(domainUuid, '100')).toBe(password);
    const after = await lineRow(own);
    expect(after.password).toBe(password);
    // A plain UPDATE of the password, as the PHP does: update_date and every other column as they were.
    expect(Object.keys(after).filter((column) => JSON.stringify(after[column]) !== JSON.stringify(before[column]))).toEqual(['password']);
    for (const untouched of [otherNumber, otherServer, otherDomain]) expect((await lineRow(untouched)).password).toBe('old-line-password');

    // A dry-run records the line write with the password masked; the replay writes nothing more.
    const recorder: RecordedWrite[] = [];
    const next = newSipPassword();
    await writeTenantExtension(suite.fx.pool, '100', {}, 'update', options({ newPassword: next, password: next, transaction: { rollback: true, recorder } }));
    expect(recorder.filter((write) => write.table === 'v_device_lines')).toEqual([expect.objectContaining({ columns: { password: '********' } })]);
    expect((await lineRow(own)).password).toBe(password);
    const replay = await writeTenantExtension(suite.fx.pool, '100', {}, 'update', options({ newPassword: password, password, forceApply: true }));
    expect(replay.outcome).toBe('unchanged');
  });

  test('voicemail counts: new = no status or empty, saved = saved, per mailbox of the domain', async () => {
    const { rows } = await suite.fx.pool.query<{ domain_uuid: string }>(
      "select domain_uuid from v_domains d join v_domain_settings s using (domain_uuid) where s.domain_setting_category = 'ictvoip' and s.domain_setting_subcategory = 'service_id' and s.domain_setting_value = $1",
      [String(SERVICE)],
    );
    const domainUuid = rows[0]!.domain_uuid;
    const counts = await tenantVoicemailCounts(suite.fx.pool, domainUuid);
    expect(counts.map((count) => count.mailbox).sort()).toEqual(['100', '101', '102']);
    expect(counts.every((count) => count.newMessages === 0 && count.savedMessages === 0)).toBe(true);
    // The slim fixture has no messages table: FusionPBX's own definition (schema-5.1.sql) where it is missing.
    await suite.fx.pool.query(
      'create table if not exists v_voicemail_messages (domain_uuid uuid, voicemail_message_uuid uuid primary key, voicemail_uuid uuid, created_epoch numeric, message_status text)',
    );
    const { rows: boxes } = await suite.fx.pool.query<{ voicemail_uuid: string }>("select voicemail_uuid from v_voicemails where domain_uuid = $1 and voicemail_id = '101'", [
      domainUuid,
    ]);
    for (const status of [null, '', 'saved', 'saved']) {
      await suite.fx.pool.query(
        'insert into v_voicemail_messages (voicemail_message_uuid, domain_uuid, voicemail_uuid, created_epoch, message_status) values ($1, $2, $3, 1790000000, $4)',
        [randomUUID(), domainUuid, boxes[0]!.voicemail_uuid, status],
      );
    }
    const after = await tenantVoicemailCounts(suite.fx.pool, domainUuid);
    expect(after.find((count) => count.mailbox === '101')).toEqual({ mailbox: '101', newMessages: 2, savedMessages: 2 });
    expect(after.find((count) => count.mailbox === '100')).toEqual({ mailbox: '100', newMessages: 0, savedMessages: 0 });
  });
});
