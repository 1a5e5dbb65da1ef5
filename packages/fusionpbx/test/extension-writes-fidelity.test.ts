import { randomUUID } from 'node:crypto';
import {
  createTenantDestination,
  deleteTenantExtension,
  destinationWriteOptions,
  QuotaExceededError,
  writeRejectionOf,
  writeTenantExtension,
  type ExtensionWriteOptions,
} from '@ictvoip/fusionpbx';
import { provisioningSuite, tenantEvent } from './helpers';

/**
 * The REST extension writes against what FusionPBX's own pages do (5.1.0 / 5.3.0
 * app/extensions/extension_edit.php, resources/classes/extension.php delete(), app/voicemails
 * voicemail->voicemail_delete(), app/destinations destinations->all()). Fixture, or
 * FUSIONPBX_SCHEMA=fixtures/fusionpbx/schema-5.1.sql / schema-5.3.sql; the tables the fixture lacks
 * (follow-me, device keys, greetings) are checked on the full schemas.
 */
const suite = provisioningSuite('fpbx_ext_fidelity', 2000);
const q = async (sql: string, params: unknown[] = []) => (await suite.fx.pool.query(sql, params)).rows as Record<string, string>[];
const options = (serviceId: number, maxEnabledExtensions: number | null = null): ExtensionWriteOptions => ({ serviceId, maxEnabledExtensions, registrationProfile: 'internal' });
const hasTable = async (table: string) => (await q('select 1 from information_schema.tables where table_name = $1', [table])).length === 1;

async function tenant(serviceId: number) {
  const created = await suite.provisioner.create(tenantEvent(serviceId, {}, { maxExtensions: 3 }));
  return { uuid: created.domainUuid, name: created.domainName };
}
const mailboxes = (domainUuid: string) =>
  q('select voicemail_id, voicemail_mail_to, voicemail_description from v_voicemails where domain_uuid = $1 order by voicemail_id', [domainUuid]);

describe(`REST extension writes as FusionPBX's pages make them (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test("an extension with a numeric alias gets the alias's mailbox, which the view reads; a number sent to it is offered by its alias", async () => {
    const domain = await tenant(9751);
    await writeTenantExtension(suite.fx.pool, '150', { numberAlias: '5150', voicemailEmail: 'a@example.com', description: 'Alice' }, 'create', options(9751));
    const boxes = (await mailboxes(domain.uuid)).filter((box) => ['150', '5150'].includes(box.voicemail_id!));
    expect(boxes).toEqual([{ voicemail_id: '5150', voicemail_mail_to: 'a@example.com', voicemail_description: 'Alice' }]);

    // The address is changed on the alias's box, not a second one made for the number.
    const updated = await writeTenantExtension(suite.fx.pool, '150', { voicemailEmail: 'b@example.com' }, 'update', options(9751));
    expect(updated.extension).toMatchObject({ numberAlias: '5150', voicemailEmail: 'b@example.com' });
    expect((await mailboxes(domain.uuid)).filter((box) => ['150', '5150'].includes(box.voicemail_id!)).map((box) => box.voicemail_id)).toEqual(['5150']);

    // destinations->all() fills an extension option from `number_alias,extension`: transfer:<alias>.
    const numbers = destinationWriteOptions(9751, { countryCode: '1' });
    const byNumber = await createTenantDestination(suite.fx.pool, '+15559751001', { action: { type: 'extension', target: '150' } }, numbers);
    const byAlias = await createTenantDestination(suite.fx.pool, '+15559751002', { action: { type: 'extension', target: '5150' } }, numbers);
    expect(byNumber.destination!.action!.raw).toBe(`transfer:5150 XML ${domain.name}`);
    expect(byAlias.destination!.action!.raw).toBe(`transfer:5150 XML ${domain.name}`);
  });

  test('the mailbox description follows the extension description on update, as the page saves it', async () => {
    const domain = await tenant(9752);
    const result = await writeTenantExtension(suite.fx.pool, '100', { description: 'Reception' }, 'update', options(9752));
    expect(result.outcome).toBe('updated');
    expect((await mailboxes(domain.uuid)).find((box) => box.voicemail_id === '100')).toMatchObject({ voicemail_description: 'Reception' });
    expect((await writeTenantExtension(suite.fx.pool, '100', { description: 'Reception' }, 'update', options(9752))).outcome).toBe('unchanged');
  });

  test('deleting with the voicemail removes the mailboxes of the number and of the alias, their greetings, and the follow-me', async () => {
    const domain = await tenant(9753);
    await writeTenantExtension(suite.fx.pool, '151', {}, 'create', options(9753));
    // What the GUI leaves: an alias set later (its own box), a greeting of the number's box, a follow-me.
    await q('update v_extensions set number_alias = $3 where domain_uuid = $1 and extension = $2', [domain.uuid, '151', '5151']);
    await q("insert into v_voicemails (domain_uuid, voicemail_uuid, voicemail_id, voicemail_password, voicemail_enabled) values ($1, $2, '5151', '1234', 'true')", [
      domain.uuid,
      randomUUID(),
    ]);
    const greetings = await hasTable('v_voicemail_greetings');
    if (greetings) {
      await q("insert into v_voicemail_greetings (domain_uuid, voicemail_greeting_uuid, voicemail_id, greeting_id, greeting_name) values ($1, $2, '151', 1, 'old greeting')", [
        domain.uuid,
        randomUUID(),
      ]);
    }
    const followMe = randomUUID();
    const hasFollowMe = await hasTable('v_follow_me');
    if (hasFollowMe) {
      await q("insert into v_follow_me (domain_uuid, follow_me_uuid, follow_me_enabled) values ($1, $2, 'true')", [domain.uuid, followMe]);
      await q("insert into v_follow_me_destinations (domain_uuid, follow_me_uuid, follow_me_destination_uuid, follow_me_destination) values ($1, $2, $3, '5551234567')", [
        domain.uuid,
        followMe,
        randomUUID(),
      ]);
    }
    await q('update v_extensions set follow_me_uuid = $3 where domain_uuid = $1 and extension = $2', [domain.uuid, '151', followMe]);

    await deleteTenantExtension(suite.fx.pool, '151', true, options(9753));
    expect((await mailboxes(domain.uuid)).map((box) => box.voicemail_id)).toEqual(['100', '101', '102']);
    expect(await q('select 1 from v_extensions where domain_uuid = $1 and extension = $2', [domain.uuid, '151'])).toEqual([]);
    if (greetings) expect(await q('select voicemail_id from v_voicemail_greetings where domain_uuid = $1', [domain.uuid])).toEqual([]);
    if (hasFollowMe) {
      expect(await q('select 1 from v_follow_me where follow_me_uuid = $1 union all select 1 from v_follow_me_destinations where follow_me_uuid = $1', [followMe])).toEqual([]);
    }
  });

  test("a caller ID name relabels the phones' keys that dial the extension (update v_device_keys), on add and on update", async () => {
    const domain = await tenant(9754);
    if (!(await hasTable('v_device_keys'))) {
      // The fixture has no device tables: the write still goes through.
      expect((await writeTenantExtension(suite.fx.pool, '100', { callerIdName: 'Alice' }, 'update', options(9754))).outcome).toBe('updated');
      return;
    }
    const key = (value: string, label: string) =>
      q('insert into v_device_keys (domain_uuid, device_key_uuid, device_uuid, device_key_value, device_key_label) values ($1, $2, $3, $4, $5) returning device_key_uuid::text', [
        domain.uuid,
        randomUUID(),
        randomUUID(),
        value,
        label,
      ]);
    const [own] = await key('100', 'Old Name');
    const [other] = await key('101', 'Bob');
    const [later] = await key('160', 'Spare');
    await writeTenantExtension(suite.fx.pool, '100', { callerIdName: 'Alice' }, 'update', options(9754));
    await writeTenantExtension(suite.fx.pool, '160', { callerIdName: 'Carol' }, 'create', options(9754));
    const labels = await q('select device_key_uuid::text, device_key_label from v_device_keys where domain_uuid = $1', [domain.uuid]);
    expect(Object.fromEntries(labels.map((row) => [row.device_key_uuid, row.device_key_label]))).toEqual({
      [own!.device_key_uuid!]: 'Alice',
      [other!.device_key_uuid!]: 'Bob',
      [later!.device_key_uuid!]: 'Carol',
    });
  });

  test("the plan's limit counts every extension row on an add, disabled ones too (extension_edit.php counts v_extensions); nothing is written", async () => {
    const domain = await tenant(9755);
    const before = await q('select count(*)::int as n from v_extensions where domain_uuid = $1', [domain.uuid]);
    const refusal = await writeTenantExtension(suite.fx.pool, '160', { enabled: false }, 'create', options(9755, 3)).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(QuotaExceededError);
    expect(writeRejectionOf(refusal)).toEqual({ status: 409, code: 'QUOTA_EXCEEDED', message: 'the plan allows at most 3 extensions' });
    expect(await q('select count(*)::int as n from v_extensions where domain_uuid = $1', [domain.uuid])).toEqual(before);

    // Enabling counts the enabled others: one disabled, then enabled again, fits.
    await writeTenantExtension(suite.fx.pool, '102', { enabled: false }, 'update', options(9755, 3));
    expect((await writeTenantExtension(suite.fx.pool, '102', { enabled: true }, 'update', options(9755, 3))).outcome).toBe('updated');
  });
});
