import { createTenantDestination, numberPlanOf } from '@ictvoip/fusionpbx';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, waitFor, type Bridge } from './harness';

// Inbound numbers end to end (issue 15): a signed WHMCS create with two DIDs through the worker, then
// /v1/tenants/{t}/destinations through the tenant-write job, with the isolation, dry-run, replay and
// refusals of the other /v1 write routes.
let bridge: Bridge;
let keyA: string;
let domainA: string;
let domainB: string;
const A = 5801;
const B = 5802;
const NUMBERING = { countryCode: '1' };

beforeAll(async () => {
  bridge = await startBridge({ API_WRITE_WAIT_MS: '1500', JOB_BACKOFF_MS: '100', API_DEFAULT_MAX_GATEWAYS: '2', API_DEFAULT_MAX_DESTINATIONS: '3' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domainA = (await createTenant(bridge, A, { ...NUMBERING, dids: ['+1 555 580 0001', '5555800002'], maxDestinations: 4 })).domain;
  domainB = (await createTenant(bridge, B, { ...NUMBERING, dids: '5555800099' })).domain;
  keyA = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant-a', scope: 'tenant', serviceId: A, access: 'read-write' });
}, 90_000);

afterAll(async () => {
  await bridge.close();
});

const send = (method: string, path: string, body?: unknown, requestId?: string) =>
  call(bridge.url, method, path, { token: keyA, body, headers: requestId ? { 'X-Request-Id': requestId } : {} });
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const numbersOf = async (domain: string) =>
  (await fusionRows('SELECT t.destination_number FROM v_destinations t JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [domain])).map(
    (row) => row.destination_number,
  );
const writeRow = async (requestId: string) => (await bridge.api!.deps.pool.query('SELECT * FROM tenant_writes WHERE request_id = $1', [requestId])).rows;

describe('a WHMCS create with two DIDs', () => {
  it('leaves two inbound destinations whose public dialplans send calls to the first extension', async () => {
    expect(await numbersOf(domainA)).toEqual(['5555800001', '5555800002']);
    const dialplans = await fusionRows(
      "SELECT p.dialplan_xml FROM v_dialplans p JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 AND p.dialplan_context = 'public' ORDER BY p.dialplan_number",
      [domainA],
    );
    expect(dialplans.map((row) => row.dialplan_xml)).toEqual([
      expect.stringContaining(`<action application="transfer" data="100 XML ${domainA}"/>`),
      expect.stringContaining(`<action application="transfer" data="100 XML ${domainA}"/>`),
    ]);
    expect(bridge.esl.apiCommands).toContain('memcache delete dialplan:public');
  });

  it('lists them for the tenant, with their action and the plan mark', async () => {
    const reply = await send('GET', `/v1/tenants/${A}/destinations`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
    expect(reply.body.data).toEqual([
      expect.objectContaining({
        number: '5555800001',
        prefix: '1',
        e164: '+15555800001',
        action: { type: 'extension', target: '100', raw: `transfer:100 XML ${domainA}` },
        enabled: true,
        managedByPlan: true,
      }),
      expect.objectContaining({ number: '5555800002', e164: '+15555800002', managedByPlan: true }),
    ]);
    const one = await send('GET', `/v1/tenants/${A}/destinations/${encodeURIComponent('+15555800002')}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ number: '5555800002' });
  });
});

describe('isolation', () => {
  it("another tenant's numbers and tenant are 404 for a tenant key, read or write", async () => {
    expect((await send('GET', `/v1/tenants/${B}/destinations`)).status).toBe(404);
    for (const [method, body] of [
      ['GET', undefined],
      ['PUT', { enabled: false }],
      ['DELETE', undefined],
    ] as const) {
      const reply = await send(method, `/v1/tenants/${A}/destinations/5555800099`, body);
      expect(reply.status).toBe(404);
      expect(reply.body.error.code).toBe('NOT_FOUND');
    }
    const before = await fusionRows("SELECT destination_enabled FROM v_destinations WHERE destination_number = '5555800099'");
    expect(before).toEqual([{ destination_enabled: 'true' }]);
  });

  it("adding another tenant's number is 409 NUMBER_TAKEN without naming that tenant", async () => {
    const reply = await send('POST', `/v1/tenants/${A}/destinations`, { number: '+1 555 580 0099' }, 'req-taken');
    expect(reply.status).toBe(409);
    expect(reply.body.error).toMatchObject({ code: 'NUMBER_TAKEN', message: 'number +15555800099 is already in use on this FusionPBX server' });
    expect(JSON.stringify(reply.body)).not.toContain('t5802');
    expect(await numbersOf(domainA)).toEqual(['5555800001', '5555800002']);
  });
});

describe('writes', () => {
  it('adds a number routed to voicemail, changes it to an extension with a caller ID name prefix, removes it', async () => {
    const created = await send('POST', `/v1/tenants/${A}/destinations`, { number: '555-580-0003', action: { type: 'voicemail', target: '101' } }, 'req-add-3');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      outcome: 'created',
      destination: { number: '5555800003', action: { type: 'voicemail', target: '101' }, managedByPlan: false },
      freeswitch: { applied: true },
    });
    const [row] = await fusionRows("SELECT destination_actions, dialplan_uuid FROM v_destinations WHERE destination_number = '5555800003'");
    expect(row.destination_actions).toEqual([{ destination_app: 'transfer', destination_data: `*99101 XML ${domainA}` }]);

    const changed = await send('PUT', `/v1/tenants/${A}/destinations/15555800003`, { action: { type: 'extension', target: '102' }, callerIdNamePrefix: 'Support' }, 'req-change-3');
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ outcome: 'updated', destination: { action: { type: 'extension', target: '102' }, callerIdNamePrefix: 'Support' } });
    const [dialplan] = await fusionRows('SELECT dialplan_xml FROM v_dialplans WHERE dialplan_uuid = $1', [row.dialplan_uuid]);
    expect(dialplan.dialplan_xml).toContain(`<action application="transfer" data="102 XML ${domainA}"/>`);
    expect(dialplan.dialplan_xml).toContain('effective_caller_id_name=Support#${caller_id_name}');
    // The details were saved again, not added to.
    expect(await fusionRows('SELECT dialplan_detail_type FROM v_dialplan_details WHERE dialplan_uuid = $1 ORDER BY dialplan_detail_order', [row.dialplan_uuid])).toEqual([
      { dialplan_detail_type: 'destination_number' },
      { dialplan_detail_type: 'set' },
      { dialplan_detail_type: 'transfer' },
    ]);
    const same = await send('PUT', `/v1/tenants/${A}/destinations/15555800003`, { action: { type: 'extension', target: '102' } }, 'req-change-3-again');
    expect(same.body.outcome).toBe('unchanged');

    const removed = await send('DELETE', `/v1/tenants/${A}/destinations/5555800003`, undefined, 'req-del-3');
    expect(removed.status).toBe(204);
    expect(await fusionRows("SELECT 1 FROM v_destinations WHERE destination_number = '5555800003'")).toEqual([]);
    expect(await fusionRows('SELECT 1 FROM v_dialplans WHERE dialplan_uuid = $1', [row.dialplan_uuid])).toEqual([]);
  });

  it('refuses a plan number removal (409 MANAGED_BY_PLAN), bad numbers and targets (400 naming the field), writing nothing', async () => {
    const managed = await send('DELETE', `/v1/tenants/${A}/destinations/5555800001`, undefined, 'req-del-plan');
    expect(managed.status).toBe(409);
    expect(managed.body.error.code).toBe('MANAGED_BY_PLAN');
    const badNumber = await send('POST', `/v1/tenants/${A}/destinations`, { number: 'call-me' });
    expect(badNumber.status).toBe(400);
    expect(badNumber.body.error.details).toEqual([expect.objectContaining({ path: 'body.number' })]);
    const foreign = await send('POST', `/v1/tenants/${A}/destinations`, { number: '+44 20 7946 0000' }, 'req-foreign');
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.details).toEqual([{ path: 'body.number', message: "number: '+44 20 7946 0000' is not a number of country code +1 (the plan's countryCode)" }]);
    const badTarget = await send('POST', `/v1/tenants/${A}/destinations`, { number: '5555800004', action: { type: 'ring_group', target: '600' } }, 'req-bad-target');
    expect(badTarget.status).toBe(400);
    expect(badTarget.body.error.details).toEqual([{ path: 'body.action.target', message: 'action.target: ring group 600 does not exist or is disabled in the tenant' }]);
    expect(await numbersOf(domainA)).toEqual(['5555800001', '5555800002']);
  });

  it('dry-run answers the rows it would write and writes none', async () => {
    const reply = await send('POST', `/v1/tenants/${A}/destinations?dryRun=1`, { number: '5555800005' });
    expect(reply.status).toBe(200);
    expect(reply.body.rows.map((row: { table: string; op: string }) => `${row.op} ${row.table}`)).toEqual([
      'insert v_dialplans',
      'insert v_dialplan_details',
      'insert v_dialplan_details',
      'insert v_destinations',
    ]);
    expect(reply.body.eslCommands).toEqual(['memcache delete dialplan:public']);
    expect(await numbersOf(domainA)).toEqual(['5555800001', '5555800002']);
  });

  it('a create whose worker died after the FusionPBX commit answers 201 created on its replay, not 409', async () => {
    await bridge.worker!.close();
    try {
      const reply = await send('POST', `/v1/tenants/${A}/destinations`, { number: '5555800006' }, 'req-replay-6');
      expect(reply.status).toBe(202);
      const [row] = await writeRow('req-replay-6');
      // The first attempt's commit, then its death before the answer was stored.
      await createTenantDestination(bridge.fusion, '5555800006', {}, { serviceId: A, numberPlan: numberPlanOf('1', undefined), maxDestinations: 4 });
      await bridge.api!.deps.pool.query("UPDATE tenant_writes SET status = 'running', attempts = 1 WHERE write_id = $1", [row.write_id]);
    } finally {
      await bridge.startWorker({ schedulers: false });
    }
    await waitFor(async () => (await writeRow('req-replay-6'))[0]?.status !== 'running', 20_000, 'the replay');
    expect((await writeRow('req-replay-6'))[0]).toMatchObject({
      status: 'succeeded',
      http_status: 201,
      attempts: 2,
      result: { outcome: 'created', destination: { number: '5555800006' } },
    });
    expect(await fusionRows("SELECT 1 FROM v_destinations WHERE destination_number = '5555800006'")).toHaveLength(1);
  });

  it('the plan limit (maxDestinations) counts every destination of the domain: the fourth is the last', async () => {
    // 0001, 0002, 0006 exist: one more fits, the next is refused like FusionPBX's own page refuses it.
    expect((await send('POST', `/v1/tenants/${A}/destinations`, { number: '5555800007' }, 'req-quota-7')).status).toBe(201);
    const refused = await send('POST', `/v1/tenants/${A}/destinations`, { number: '5555800008' }, 'req-quota-8');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('QUOTA_EXCEEDED');
  });
});

describe('change_package and the webhook', () => {
  it('a change_package through the webhook adds and removes plan numbers; a refused DID names the field (400)', async () => {
    const change = buildEvent({
      serviceId: A,
      action: 'change_package',
      plan: { maxExtensions: 3, firstExtension: 100, ...NUMBERING, dids: ['5555800002', '5555800010'], maxDestinations: 10 },
    });
    delete (change as { secrets?: unknown }).secrets;
    const reply = await postWebhook(bridge.url, JSON.stringify(change), { query: '?wait=20' });
    expect(reply.body).toMatchObject({ result: 'success' });
    expect(await numbersOf(domainA)).toEqual(['5555800002', '5555800006', '5555800007', '5555800010']);

    const bad = buildEvent({ serviceId: A, action: 'change_package', plan: { maxExtensions: 3, firstExtension: 100, dids: ['5555800011', 'not a number'] } });
    delete (bad as { secrets?: unknown }).secrets;
    const refused = await postWebhook(bridge.url, JSON.stringify(bad));
    expect(refused.status).toBe(400);
    expect((refused.body as { error: { details: unknown[] } }).error.details).toEqual([expect.objectContaining({ path: 'plan.dids.1' })]);
  });

  it("a WHMCS create naming another tenant's number fails at once (not retried), naming the domain that has it; nothing is written", async () => {
    const event = buildEvent({ serviceId: 5803, plan: { maxExtensions: 2, firstExtension: 100, ...NUMBERING, dids: ['5555800050', '+1 555 580 0099'] } });
    const reply = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=20' });
    expect(reply.body).toMatchObject({ result: 'error', retryable: false });
    expect(String(reply.body.message)).toContain('number +15555800099 is already an inbound destination of domain t5802.');
    expect(await fusionRows("SELECT 1 FROM v_domains WHERE domain_name LIKE 't5803.%'")).toEqual([]);
    expect(await fusionRows("SELECT 1 FROM v_destinations WHERE destination_number = '5555800050'")).toEqual([]);
  });

  it('/openapi.json describes the destinations routes', async () => {
    const reply = await call(bridge.url, 'GET', '/openapi.json');
    expect(Object.keys(reply.body.paths)).toEqual(expect.arrayContaining(['/v1/tenants/{tenant}/destinations', '/v1/tenants/{tenant}/destinations/{number}']));
    expect(Object.keys(reply.body.paths['/v1/tenants/{tenant}/destinations/{number}'])).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
  });
});

describe('a suspended tenant (WHMCS suspended it for non-payment)', () => {
  it('its key still reads; every write is 409 TENANT_NOT_ACTIVE naming the state, nothing written; unsuspended, it writes again', async () => {
    const keyB = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant-b', scope: 'tenant', serviceId: B, access: 'read-write' });
    const asB = (method: string, path: string, body?: unknown) => call(bridge.url, method, `/v1/tenants/${B}${path}`, { token: keyB, body });
    const event = (action: 'suspend' | 'unsuspend') => {
      const built = buildEvent({ serviceId: B, action, plan: { maxExtensions: 3, firstExtension: 100 } });
      delete (built as { secrets?: unknown }).secrets;
      return postWebhook(bridge.url, JSON.stringify(built), { query: '?wait=20' });
    };
    expect((await event('suspend')).body).toMatchObject({ result: 'success' });
    expect((await asB('GET', '/destinations')).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/destinations', { number: '5555800098' }],
      ['PUT', '/destinations/5555800099', { enabled: true }],
      ['POST', '/extensions', { extension: '150' }],
      ['POST', '/gateways', { name: 'own-trunk', proxy: 'sip.own.example', register: false }],
    ] as const) {
      const reply = await asB(method, path, body);
      expect({ path, status: reply.status, error: reply.body.error }).toMatchObject({
        path,
        status: 409,
        error: { code: 'TENANT_NOT_ACTIVE', message: expect.stringContaining('tenant is suspended') },
      });
    }
    expect(
      await fusionRows("SELECT destination_number, destination_enabled FROM v_destinations WHERE destination_number LIKE '55558000%' AND destination_number >= '5555800098'"),
    ).toEqual([{ destination_number: '5555800099', destination_enabled: 'false' }]);
    expect((await event('unsuspend')).body).toMatchObject({ result: 'success' });
    expect((await asB('POST', '/destinations', { number: '5555800098' })).status).toBe(201);
  });
});

describe('gateways of a tenant whose plan states no maxGateways', () => {
  it('are limited to API_DEFAULT_MAX_GATEWAYS (2 here, every gateway of the domain counted): the next create is 409 QUOTA_EXCEEDED naming it, nothing written', async () => {
    const gateways = async () =>
      (await fusionRows('SELECT g.gateway FROM v_gateways g JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1 ORDER BY 1', [domainA])).map((row) => row.gateway);
    let reply = await send('POST', `/v1/tenants/${A}/gateways`, { name: 'own-1', proxy: 'sip.own.example', register: false });
    for (let index = 2; reply.status === 201 && index <= 5; index += 1) {
      reply = await send('POST', `/v1/tenants/${A}/gateways`, { name: `own-${index}`, proxy: 'sip.own.example', register: false });
    }
    expect(reply.status).toBe(409);
    expect(reply.body.error).toEqual({ code: 'QUOTA_EXCEEDED', message: 'at most 2 gateways per tenant (API_DEFAULT_MAX_GATEWAYS; the plan states no limit)' });
    expect(await gateways()).toHaveLength(2);
  });
});

describe('inbound numbers of a tenant whose plan states no maxDestinations', () => {
  it("are limited to API_DEFAULT_MAX_DESTINATIONS (3 here, the plan number counted) through /v1: the next add is 409 QUOTA_EXCEEDED naming it, nothing written; the plan's DIDs are not limited by it", async () => {
    const keyB = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant-b-numbers', scope: 'tenant', serviceId: B, access: 'read-write' });
    const add = (number: string) => call(bridge.url, 'POST', `/v1/tenants/${B}/destinations`, { token: keyB, body: { number } });
    let reply = await add('5555801001');
    for (let index = 2; reply.status === 201 && index <= 5; index += 1) reply = await add(`555580100${index}`);
    expect(reply.status).toBe(409);
    expect(reply.body.error).toEqual({ code: 'QUOTA_EXCEEDED', message: 'at most 3 destinations per tenant (API_DEFAULT_MAX_DESTINATIONS; the plan states no limit)' });
    expect(await numbersOf(domainB)).toHaveLength(3);
    const dids = ['5555800099', '5555801011', '5555801012', '5555801013'];
    const change = buildEvent({ serviceId: B, action: 'change_package', plan: { maxExtensions: 3, firstExtension: 100, ...NUMBERING, dids } });
    delete (change as { secrets?: unknown }).secrets;
    expect((await postWebhook(bridge.url, JSON.stringify(change), { query: '?wait=20' })).body).toMatchObject({ result: 'success' });
    expect(await numbersOf(domainB)).toEqual(expect.arrayContaining(dids));
  });
});
