import { createTenantDestination, CustomisedInFusionpbxError, destinationWriteOptions, updateTenantDestination, writeRejectionOf } from '@ictvoip/fusionpbx';
import { provisioningSuite, tenantEvent } from './helpers';

/**
 * A REST update of an inbound number against what FusionPBX's destination page may have put on it
 * (5.1.0 / 5.3.0 app/destinations/destination_edit.php builds the dialplan from every field of the
 * row: recording, hold music, Alert-Info, ringback, account code, fax detection, conditions, every
 * action, the order). The bridge's rewrite writes one action and the caller-id prefix, so it must not
 * run over what it cannot write again. Fixture, or FUSIONPBX_SCHEMA=fixtures/fusionpbx/schema-5.1.sql / 5.3.
 */
const suite = provisioningSuite('fpbx_dest_update', 2000);
const rows = async (sql: string, params: unknown[] = []) => (await suite.fx.pool.query(sql, params)).rows as Record<string, string>[];
const NUMBERING = { countryCode: '1' };

async function tenantWithNumber(serviceId: number, number: string) {
  const created = await suite.provisioner.create(tenantEvent(serviceId, {}, { maxExtensions: 2 }));
  const options = destinationWriteOptions(serviceId, NUMBERING);
  const added = await createTenantDestination(suite.fx.pool, number, { action: { type: 'extension', target: '100' } }, options);
  const [row] = await rows('select destination_uuid::text, dialplan_uuid::text from v_destinations where destination_uuid = $1', [added.destination!.destinationUuid]);
  return { domain: created.domainName, options, destinationUuid: row!.destination_uuid!, dialplanUuid: row!.dialplan_uuid! };
}

/** What an operator's save on FusionPBX's page leaves: recording ticked, a failover action, order 50, the dialplan renamed. */
async function customiseInFusionpbx(tenant: Awaited<ReturnType<typeof tenantWithNumber>>): Promise<void> {
  const actions = JSON.stringify([
    { destination_app: 'transfer', destination_data: `100 XML ${tenant.domain}` },
    { destination_app: 'transfer', destination_data: `101 XML ${tenant.domain}` },
  ]);
  await rows(`update v_destinations set destination_record = 'true', destination_order = 50, destination_actions = $2 where destination_uuid = $1`, [
    tenant.destinationUuid,
    actions,
  ]);
  await rows(
    `update v_dialplans set dialplan_order = 50, dialplan_name = 'Front desk line', dialplan_xml = replace(dialplan_xml, '<action application="transfer"',
      '<action application="record_session" data="\${record_path}/\${record_name}" inline="false"/>' || chr(10) || '\t\t<action application="transfer"') where dialplan_uuid = $1`,
    [tenant.dialplanUuid],
  );
}

const snapshot = (tenant: { destinationUuid: string; dialplanUuid: string }) =>
  rows(
    `select 'dest' as t, row_to_json(d)::text as r from v_destinations d where destination_uuid = $1
     union all select 'plan', row_to_json(p)::text from v_dialplans p where dialplan_uuid = $2
     union all select 'detail', row_to_json(x)::text from (select * from v_dialplan_details where dialplan_uuid = $2 order by dialplan_detail_uuid) x order by 1, 2`,
    [tenant.destinationUuid, tenant.dialplanUuid],
  );

describe(`updating a number customised in FusionPBX (${process.env.FUSIONPBX_SCHEMA ?? 'fixture'})`, () => {
  test('a description or enabled change keeps its dialplan (recording, second action, order, name) and sets both descriptions, as the page does', async () => {
    const tenant = await tenantWithNumber(9741, '+15559741001');
    await customiseInFusionpbx(tenant);
    const [before] = await rows('select dialplan_xml from v_dialplans where dialplan_uuid = $1', [tenant.dialplanUuid]);
    const details = await rows('select dialplan_detail_uuid::text from v_dialplan_details where dialplan_uuid = $1 order by 1', [tenant.dialplanUuid]);

    const result = await updateTenantDestination(suite.fx.pool, '+15559741001', { description: 'front desk', enabled: false }, tenant.options);
    expect(result.outcome).toBe('updated');
    const [after] = await rows(
      `select d.destination_actions::text, d.destination_description, d.destination_enabled::text, p.dialplan_xml, p.dialplan_order::text, p.dialplan_name, p.dialplan_description, p.dialplan_enabled::text
       from v_destinations d join v_dialplans p using (dialplan_uuid) where d.destination_uuid = $1`,
      [tenant.destinationUuid],
    );
    expect(JSON.parse(after!.destination_actions!)).toHaveLength(2);
    expect(after).toMatchObject({
      dialplan_xml: before!.dialplan_xml,
      dialplan_order: '50',
      dialplan_name: 'Front desk line',
      destination_description: 'front desk',
      dialplan_description: 'front desk',
      destination_enabled: 'false',
      dialplan_enabled: 'false',
    });
    expect(await rows('select dialplan_detail_uuid::text from v_dialplan_details where dialplan_uuid = $1 order by 1', [tenant.dialplanUuid])).toEqual(details);

    // The same change again: nothing written.
    const again = await snapshot(tenant);
    expect((await updateTenantDestination(suite.fx.pool, '+15559741001', { description: 'front desk', enabled: false }, tenant.options)).outcome).toBe('unchanged');
    expect(await snapshot(tenant)).toEqual(again);
  });

  test('an action or caller ID prefix change is refused with 409 CUSTOMISED_IN_FUSIONPBX naming what it would drop; nothing is written', async () => {
    const tenant = await tenantWithNumber(9742, '+15559742001');
    await customiseInFusionpbx(tenant);
    const before = await snapshot(tenant);
    const refusal = await updateTenantDestination(suite.fx.pool, '+15559742001', { action: { type: 'extension', target: '101' }, description: 'x' }, tenant.options).catch(
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(CustomisedInFusionpbxError);
    expect((refusal as CustomisedInFusionpbxError).features).toEqual(['record', 'more than one action']);
    expect(writeRejectionOf(refusal)).toMatchObject({ status: 409, code: 'CUSTOMISED_IN_FUSIONPBX', message: expect.stringContaining('record, more than one action') });
    await expect(updateTenantDestination(suite.fx.pool, '+15559742001', { callerIdNamePrefix: 'Sales' }, tenant.options)).rejects.toBeInstanceOf(CustomisedInFusionpbxError);
    expect(await snapshot(tenant)).toEqual(before);
  });

  test('a plain number takes a new action, keeping the order and dialplan name an operator gave it', async () => {
    const tenant = await tenantWithNumber(9743, '+15559743001');
    await rows(`update v_destinations set destination_order = 30 where destination_uuid = $1`, [tenant.destinationUuid]);
    await rows(`update v_dialplans set dialplan_order = 30, dialplan_name = 'Main line' where dialplan_uuid = $1`, [tenant.dialplanUuid]);

    const result = await updateTenantDestination(suite.fx.pool, '+15559743001', { action: { type: 'extension', target: '101' } }, tenant.options);
    expect(result.outcome).toBe('updated');
    const [after] = await rows(
      `select d.destination_order::text, p.dialplan_order::text, p.dialplan_name, p.dialplan_xml from v_destinations d join v_dialplans p using (dialplan_uuid) where d.destination_uuid = $1`,
      [tenant.destinationUuid],
    );
    expect(after).toMatchObject({ destination_order: '30', dialplan_order: '30', dialplan_name: 'Main line' });
    expect(after!.dialplan_xml).toContain('<extension name="Main line" continue="false"');
    expect(after!.dialplan_xml).toContain(`<action application="transfer" data="101 XML ${tenant.domain}"/>`);
  });
});
