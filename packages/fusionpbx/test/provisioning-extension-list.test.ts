import { type Provisioner } from '@ictvoip/fusionpbx';
import { type FusionpbxTestDb, provisioningSuite, tenantEvent } from './helpers';

// ictVoIP's non-consecutive extension list (plan.extensionNumbers, "2112 | 2113 | 2120") and its
// "domain | DID" service field, provisioned like the range: same rows, against either schema.
let fx: FusionpbxTestDb;
let provisioner: Provisioner;

const suite = provisioningSuite('fpbx_extlist', 2000);
beforeAll(() => {
  ({ fx, provisioner } = suite);
});

const extensionsOf = async (domain: string) =>
  (await fx.pool.query('select e.extension from v_extensions e join v_domains d using (domain_uuid) where d.domain_name = $1 order by e.extension', [domain])).rows.map(
    (row: { extension: string }) => row.extension,
  );

describe(`ictVoIP extension lists (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  it('creates exactly the listed extensions, with their mailboxes, on the domain before the "|"; a replay changes nothing', async () => {
    const event = tenantEvent(3101, { service: { domain: 'mcon.wat7.ictvoip.test | 5192229000' } }, { maxExtensions: undefined, extensionNumbers: '2112 | 2113 | 2120' });
    const result = await provisioner.create(event);
    expect(result.domainName).toBe('mcon.wat7.ictvoip.test');
    expect(result.report.createdExtensions).toEqual(['2112', '2113', '2120']);
    expect(await extensionsOf('mcon.wat7.ictvoip.test')).toEqual(['2112', '2113', '2120']);
    const mailboxes = await fx.pool.query(
      "select voicemail_id from v_voicemails v join v_domains d using (domain_uuid) where d.domain_name = 'mcon.wat7.ictvoip.test' order by voicemail_id",
    );
    expect(mailboxes.rows.map((row: { voicemail_id: string }) => row.voicemail_id)).toEqual(['2112', '2113', '2120']);
    const again = await provisioner.create(event);
    expect(again.changed).toBe(false);
    expect(await extensionsOf('mcon.wat7.ictvoip.test')).toEqual(['2112', '2113', '2120']);
  });

  it('keeps maxExtensions when the plan gives one: the list is created up to it', async () => {
    const result = await provisioner.create(tenantEvent(3102, {}, { maxExtensions: 2, extensionNumbers: ['500', '510', '520'] }));
    expect(result.report.createdExtensions).toEqual(['500', '510']);
    expect(result.report.skippedExtensions).toEqual([]);
  });
});
