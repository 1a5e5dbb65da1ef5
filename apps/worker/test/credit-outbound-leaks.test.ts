/**
 * Issue 16, outbound restriction: what else could still carry a paid call while the emergency
 * routes' gateways stay up. Another dialplan (custom, an inbound destination's) or a ring-group
 * destination dialling a kept gateway is disabled and restored exactly; a domain without the
 * bridge's tag keeps its emergency gateway up; a gateway a new emergency route needs is started
 * again; a gateway turned on while restricted is stopped and back on at the lift; the re-apply
 * audits what it changed and nothing else.
 */
import { randomUUID } from 'node:crypto';
import { getCreditState } from '@ictvoip/store';
import { runCreditCheck } from '../src';
import { call, createKey } from '../../api/test/v1-helpers';
import type { BillingKit } from './cdr-billing-kit';
import { addOutboundTenant, startOutboundKit } from './credit-outbound-kit';
import { waitFor } from './harness';

let kit: BillingKit;

beforeAll(async () => {
  kit = await startOutboundKit();
}, 30000);
afterAll(async () => {
  await kit?.close();
});

const fusion = async (sql: string, params: unknown[] = []) => (await kit.bridge.fusion.query(sql, params)).rows as Record<string, string>[];
const OUTBOUND_APP = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3';
const INBOUND_APP = 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4';

interface DialplanSpec {
  context: string;
  app: string;
  name: string;
  expression: string;
  bridge: string;
  enabled?: boolean;
  /** written in dialplan_xml only (an XML-edited dialplan whose details say nothing of it) */
  xmlOnly?: boolean;
}

/** A dialplan as FusionPBX stores it: the row with its dialplan_xml (what FreeSWITCH runs) and, unless xmlOnly, its details. */
async function addDialplan(domainUuid: string, spec: DialplanSpec): Promise<string> {
  const uuid = randomUUID();
  const xml = `<extension name="${spec.name}" continue="false" uuid="${uuid}">\n\t<condition field="destination_number" expression="${spec.expression}">\n\t\t<action application="bridge" data="${spec.bridge}"/>\n\t</condition>\n</extension>\n`;
  await kit.bridge.fusion.query(
    `insert into v_dialplans (domain_uuid, dialplan_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_continue, dialplan_xml, dialplan_order, dialplan_enabled)
     values ($1, $2, $3, $4, $5, 'false', $6, 300, $7)`,
    [domainUuid, uuid, spec.app, spec.context, spec.name, xml, String(spec.enabled ?? true)],
  );
  const details = spec.xmlOnly
    ? []
    : ([
        [10, 'condition', 'destination_number', spec.expression],
        [20, 'action', 'bridge', spec.bridge],
      ] as const);
  for (const [order, tag, type, data] of details) {
    await kit.bridge.fusion.query(
      `insert into v_dialplan_details (dialplan_detail_uuid, domain_uuid, dialplan_uuid, dialplan_detail_tag, dialplan_detail_type, dialplan_detail_data, dialplan_detail_order, dialplan_detail_group, dialplan_detail_enabled)
       values ($1, $2, $3, $4, $5, $6, $7, 0, 'true')`,
      [randomUUID(), domainUuid, uuid, tag, type, data, order],
    );
  }
  return uuid;
}

const dialplansEnabled = async (uuids: string[]) =>
  Object.fromEntries(
    (await fusion('select dialplan_uuid::text, dialplan_enabled::text from v_dialplans where dialplan_uuid = any($1::uuid[])', [uuids])).map((row) => [
      row.dialplan_uuid,
      row.dialplan_enabled,
    ]),
  );

async function addRingGroup(domain: { domainUuid: string; domainName: string }, numbers: string[]): Promise<string[]> {
  const group = randomUUID();
  await kit.bridge.fusion.query(
    `insert into v_ring_groups (domain_uuid, ring_group_uuid, ring_group_name, ring_group_extension, ring_group_context) values ($1, $2, 'sales', '2000', $3)`,
    [domain.domainUuid, group, domain.domainName],
  );
  const uuids: string[] = [];
  for (const number of numbers) {
    const uuid = randomUUID();
    await kit.bridge.fusion.query(
      `insert into v_ring_group_destinations (ring_group_destination_uuid, domain_uuid, ring_group_uuid, destination_number, destination_delay, destination_timeout, destination_enabled)
       values ($1, $2, $3, $4, 0, 30, true)`,
      [uuid, domain.domainUuid, group, number],
    );
    uuids.push(uuid);
  }
  return uuids;
}

const ringEnabled = async (uuids: string[]) =>
  Object.fromEntries(
    (
      await fusion('select ring_group_destination_uuid::text as id, destination_enabled::text from v_ring_group_destinations where ring_group_destination_uuid = any($1::uuid[])', [
        uuids,
      ])
    ).map((row) => [row.id, row.destination_enabled]),
  );

/** An IVR menu with an option bridging `dial`, as ivr_menu_edit.php stores it (5.1 and 5.3; the fixture schema has no IVR tables: null). */
async function addIvrOption(domain: { domainUuid: string; domainName: string }, dial: string): Promise<{ menu: string; option: string } | null> {
  const [present] = await fusion(`select count(*)::text as n from information_schema.tables where table_name = 'v_ivr_menu_options'`);
  if (present?.n !== '1') return null;
  const menu = randomUUID();
  const option = randomUUID();
  await kit.bridge.fusion.query(
    `insert into v_ivr_menus (ivr_menu_uuid, domain_uuid, ivr_menu_name, ivr_menu_extension, ivr_menu_context, ivr_menu_enabled) values ($1, $2, 'main', '3000', $3, 'true')`,
    [menu, domain.domainUuid, domain.domainName],
  );
  await kit.bridge.fusion.query(
    `insert into v_ivr_menu_options (ivr_menu_option_uuid, ivr_menu_uuid, domain_uuid, ivr_menu_option_digits, ivr_menu_option_action, ivr_menu_option_param, ivr_menu_option_order, ivr_menu_option_enabled)
     values ($1, $2, $3, '9', 'menu-exec-app', $4, 0, true)`,
    [option, menu, domain.domainUuid, `bridge ${dial}`],
  );
  return { menu, option };
}

const ivrEnabled = async (uuid: string) =>
  (await fusion('select ivr_menu_option_enabled::text as enabled from v_ivr_menu_options where ivr_menu_option_uuid = $1', [uuid]))[0]?.enabled;

test('other dialplans, ring-group destinations and IVR options dialling a kept gateway are disabled, re-disabled when turned on again, and restored exactly at the lift', async () => {
  const { client, tenant, trunk, audits, routedThrough } = await addOutboundTenant(kit, 9801);
  const own = (name: string, expression: string, bridge: string, extra: Partial<DialplanSpec> = {}) =>
    addDialplan(tenant.domainUuid, { context: tenant.domainName, app: randomUUID(), name, expression, bridge, ...extra });
  const custom = await own('custom.paid', '^8(\\d+)$', `sofia/gateway/${trunk}/$1`);
  const xmlOnly = await own('xml.paid', '^7(\\d+)$', `sofia/gateway/${trunk}/$1`, { xmlOnly: true });
  const inbound = await own('12125550199', '^(12125550199)$', `sofia/gateway/${trunk}/14155550123`, { context: 'public', app: INBOUND_APP });
  await kit.bridge.fusion.query(
    `insert into v_destinations (domain_uuid, destination_uuid, dialplan_uuid, destination_type, destination_number, destination_context, destination_enabled) values ($1, $2, $3, 'inbound', '12125550199', 'public', 'true')`,
    [tenant.domainUuid, randomUUID(), inbound],
  );
  const emergency = await own('custom.911', '^(911)$', `sofia/gateway/${trunk}/911`);
  const wasOff = await own('custom.off', '^6(\\d+)$', `sofia/gateway/${trunk}/$1`, { enabled: false });
  const local = await own('custom.local', '^5(\\d+)$', 'user/100@${domain_name}');
  const [ringOut, ringLocal] = await addRingGroup(tenant, [`sofia/gateway/${trunk}/14155550100`, '100']);
  const ivr = await addIvrOption(tenant, `sofia/gateway/${trunk}/14155550111`);
  const all = [custom, xmlOnly, inbound, emergency, wasOff, local];
  const before = await dialplansEnabled(all);

  client.credit = '-0.01';
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['mail:zero', 'restrict', 'outbound-restricted']);
  expect(await dialplansEnabled(all)).toEqual({ ...before, [custom]: 'false', [xmlOnly]: 'false', [inbound]: 'false' });
  expect(await ringEnabled([ringOut!, ringLocal!])).toEqual({ [ringOut!]: 'false', [ringLocal!]: 'true' });
  expect(await routedThrough('911')).toHaveLength(1);
  expect(kit.bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete dialplan:${tenant.domainName}`, 'memcache delete dialplan:public']));
  expect(await getCreditState(kit.deps.pool, 9801)).toMatchObject({
    restrictedDialplans: [custom, xmlOnly, inbound].sort(),
    restrictedRingDestinations: [ringOut],
    restrictedIvrOptions: ivr ? [ivr.option] : [],
  });
  if (ivr) {
    expect(await ivrEnabled(ivr.option)).toBe('false');
    expect(kit.bridge.esl.apiCommands).toContain(`memcache delete configuration:ivr.conf:${ivr.menu}`);
  }

  // Repeat: nothing new, nothing written, nothing audited.
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual([]);
  expect(kit.bridge.esl.received).toEqual([]);
  expect(await audits()).toEqual(['credit.zero', 'credit.outbound-restricted']);

  // The customer turns the custom dialplan and the ring-group destination on again in FusionPBX: the next check turns them off, once, audited.
  await kit.bridge.fusion.query(`update v_dialplans set dialplan_enabled = 'true' where dialplan_uuid = $1`, [custom]);
  await kit.bridge.fusion.query(`update v_ring_group_destinations set destination_enabled = true where ring_group_destination_uuid = $1`, [ringOut]);
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['outbound-reapplied']);
  expect((await dialplansEnabled([custom]))[custom]).toBe('false');
  expect((await ringEnabled([ringOut!]))[ringOut!]).toBe('false');
  expect(await audits()).toEqual(['credit.zero', 'credit.outbound-restricted', 'credit.outbound-reapplied']);

  client.credit = '20.00';
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['lift', 'outbound-lifted']);
  expect(await dialplansEnabled(all)).toEqual(before);
  expect(await ringEnabled([ringOut!, ringLocal!])).toEqual({ [ringOut!]: 'true', [ringLocal!]: 'true' });
  if (ivr) expect(await ivrEnabled(ivr.option)).toBe('true');
  expect(await getCreditState(kit.deps.pool, 9801)).toMatchObject({ restrictedDialplans: [], restrictedRingDestinations: [], restrictedIvrOptions: [], restrictedGateways: [] });
});

test('a domain without the bridge tag keeps its emergency gateway up; its paid route through that gateway is disabled and restored', async () => {
  const { client, tenant, trunk, spare, gateways, routes, routedThrough } = await addOutboundTenant(kit, 9802);
  await kit.bridge.fusion.query(`delete from v_domain_settings where domain_uuid = $1 and domain_setting_category = 'ictvoip'`, [tenant.domainUuid]);
  const before = await routes();

  client.credit = '-0.01';
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['mail:zero', 'restrict', 'outbound-restricted']);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });
  expect(await routedThrough('911')).toHaveLength(1);
  expect(await routedThrough('12125550100')).toEqual([]);
  expect(kit.bridge.esl.received.some((command) => command.includes(`killgw ${trunk}`))).toBe(false);

  client.credit = '20.00';
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['lift', 'outbound-lifted']);
  expect(await routes()).toEqual(before);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true' });
});

test('a new emergency route through a gateway the restriction stopped starts it (audited); the lift leaves it as it is', async () => {
  const { client, tenant, trunk, spare, gateways, routedThrough, audits } = await addOutboundTenant(kit, 9803);
  client.credit = '-0.01';
  await runCreditCheck(kit.deps, client.id);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });

  await addDialplan(tenant.domainUuid, { context: tenant.domainName, app: OUTBOUND_APP, name: 'mine.112', expression: '^(112)$', bridge: `sofia/gateway/${spare}/112` });
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['outbound-reapplied']);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true' });
  expect(await routedThrough('112')).toHaveLength(1);
  expect(kit.bridge.esl.received.filter((command) => /killgw|startgw/.test(command))).toEqual([`api sofia profile external startgw ${spare}`]);
  expect((await getCreditState(kit.deps.pool, 9803))?.restrictedGateways).toEqual([]);
  expect(await audits()).toEqual(['credit.zero', 'credit.outbound-restricted', 'credit.outbound-reapplied']);

  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual([]);
  expect(await audits()).toHaveLength(3);

  client.credit = '20.00';
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['lift', 'outbound-lifted']);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true' });
  expect(kit.bridge.esl.received.filter((command) => /killgw|startgw/.test(command))).toEqual([]);
});

test('a gateway disabled before the restriction stays disabled at the lift; one the customer turns on while restricted is stopped at the next check and on again at the lift (their last choice)', async () => {
  const { client, tenant, trunk, spare, gateways } = await addOutboundTenant(kit, 9804);
  const off = randomUUID();
  const later = randomUUID();
  for (const [uuid, name] of [
    [off, 'off'],
    [later, 'later'],
  ] as const) {
    await kit.bridge.fusion.query(`insert into v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) values ($1, $2, $3, 'false', 'external', 'false')`, [
      uuid,
      tenant.domainUuid,
      name,
    ]);
  }
  client.credit = '-0.01';
  await runCreditCheck(kit.deps, client.id);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false', [off]: 'false', [later]: 'false' });

  await kit.bridge.fusion.query(`update v_gateways set enabled = 'true' where gateway_uuid = $1`, [later]);
  kit.bridge.esl.clearRecorded();
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['outbound-reapplied']);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false', [off]: 'false', [later]: 'false' });
  expect(kit.bridge.esl.received.filter((command) => /killgw|startgw/.test(command))).toEqual([`api sofia profile external killgw ${later}`]);

  client.credit = '20.00';
  expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toEqual(['lift', 'outbound-lifted']);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'true', [off]: 'false', [later]: 'true' });
});

test('while restricted, the tenant cannot switch a stopped gateway on (or make an enabled one) through /v1: 409 CREDIT_RESTRICTED, nothing written; after the top-up it can', async () => {
  const { client, trunk, spare, gateways } = await addOutboundTenant(kit, 9805);
  client.credit = '-0.01';
  await runCreditCheck(kit.deps, client.id);
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });
  const token = await createKey(kit.bridge.url, kit.bridge.config.adminToken, { name: 'tenant-9805', scope: 'tenant', serviceId: 9805, access: 'read-write' });
  const writes = async () => (await kit.deps.pool.query('SELECT count(*)::int AS n FROM tenant_writes WHERE service_id = 9805')).rows[0].n as number;
  const before = await writes();
  for (const [method, path, body] of [
    ['PUT', `/gateways/${spare}`, { enabled: true }],
    ['PUT', `/gateways/${spare}?dryRun=1`, { enabled: true }],
    ['POST', '/gateways', { name: 'own-trunk', proxy: 'sip.own.example', register: false }],
  ] as const) {
    const reply = await call(kit.bridge.url, method, `/v1/tenants/9805${path}`, { token, body });
    expect({ path, status: reply.status, error: reply.body.error }).toEqual({
      path,
      status: 409,
      error: { code: 'CREDIT_RESTRICTED', message: expect.stringContaining('tenant 9805 is restricted for low credit (credit control, outbound calls)') },
    });
  }
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });
  expect(await writes()).toBe(before);

  client.credit = '20.00';
  await runCreditCheck(kit.deps, client.id);
  expect((await call(kit.bridge.url, 'PUT', `/v1/tenants/9805/gateways/${spare}?dryRun=1`, { token, body: { enabled: true } })).status).toBe(200);
});

test('a restriction decided after the API accepted a switch-on (the write still queued) refuses it in the job: 409 CREDIT_RESTRICTED, the gateway stays off, nothing made', async () => {
  const { client, trunk, spare, gateways } = await addOutboundTenant(kit, 9806);
  await kit.bridge.fusion.query(`update v_gateways set enabled = 'false' where gateway_uuid = $1`, [spare]);
  const token = await createKey(kit.bridge.url, kit.bridge.config.adminToken, { name: 'tenant-9806', scope: 'tenant', serviceId: 9806, access: 'read-write' });
  const writes = kit.bridge.worker!.workers.find((worker) => worker.name === 'tenant-writes')!;
  const queued = async (n: number) => (await kit.deps.pool.query(`SELECT count(*)::int AS n FROM tenant_writes WHERE service_id = 9806 AND status = 'queued'`)).rows[0].n >= n;
  await writes.pause();
  let replies: Promise<Awaited<ReturnType<typeof call>>>[];
  try {
    replies = [
      call(kit.bridge.url, 'PUT', `/v1/tenants/9806/gateways/${spare}`, { token, body: { enabled: true } }),
      call(kit.bridge.url, 'POST', '/v1/tenants/9806/gateways', { token, body: { name: 'own-trunk', proxy: 'sip.own.example', register: false } }),
    ];
    await waitFor(() => queued(2), 10000, 'both writes accepted and queued');
    client.credit = '-0.01';
    expect((await runCreditCheck(kit.deps, client.id)).services[0]?.actions).toContain('outbound-restricted');
  } finally {
    await writes.resume();
  }
  for (const reply of await Promise.all(replies)) {
    expect({ status: reply.status, error: reply.body.error }).toEqual({
      status: 409,
      error: { code: 'CREDIT_RESTRICTED', message: expect.stringContaining('tenant 9806 is restricted for low credit (credit control, outbound calls)') },
    });
  }
  expect(await gateways()).toEqual({ [trunk]: 'true', [spare]: 'false' });
});
