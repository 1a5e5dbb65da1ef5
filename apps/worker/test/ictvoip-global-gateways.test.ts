import { createGlobalGateway, enabledDomainGateways, toggleDomainGateways } from '@ictvoip/fusionpbx';
import { call, createKey, createTenant } from '../../api/test/v1-helpers';
import { startBridge, waitFor, withoutWorker as pauseWorker, type Bridge } from './harness';
import { addFusionUser, bcryptOf, expectError, postForm } from './compat-helpers';

// ictVoIP's provision.php naming no tenant (issue #17): ictVoIP runs as FusionPBX's superadmin, so
// such a gateway is the switch's own, domain "Global" on FusionPBX's gateway page
// (app/gateways/gateway_edit.php 5.1.0/5.3.0 line 165 saves `is_uuid($domain_uuid) ? $domain_uuid : null`).
// The bridge writes it through the gateway write job and its tenant_writes row, under the server's lock.

const SERVICE = 5801;
const ADMIN = { username: 'admin', password: 'your-password' };
/** api_endpoints.rst's provision.php usage example, field for field (no tenant). */
const DOCUMENTED = { gateway_name: 'primary_gateway', gateway_domain: 'sip.provider.com', gateway_username: 'account', gateway_password: 'password' };

let bridge: Bridge;
let domain: string;
let tenantKey: string;
let adminKey: string;

const asAdmin = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) => postForm(bridge.url, path, { ...ADMIN, ...fields }, headers);
const asKey = (key: string, path: string, fields: Record<string, string>) => postForm(bridge.url, path, fields, { authorization: `Bearer ${key}` });
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const writeCount = async () => Number((await bridge.api!.deps.pool.query('SELECT count(*) AS n FROM tenant_writes')).rows[0].n);
const globalRows = (name: string) => fusionRows('select * from v_gateways where gateway = $1 and domain_uuid is null', [name]);
const writeOf = async (requestId: string) => (await bridge.api!.deps.pool.query('SELECT * FROM tenant_writes WHERE request_id = $1', [requestId])).rows[0];

const withoutWorker = <T>(work: () => Promise<T>) => pauseWorker(bridge, work);

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', API_WRITE_WAIT_MS: '5000', JOB_BACKOFF_MS: '100', FUSIONPBX_PROFILE: 'internal' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
  domain = (await createTenant(bridge, SERVICE)).domain;
  await bridge.api!.deps.pool.query(`UPDATE services SET plan = plan || '{"maxGateways": 3}'::jsonb WHERE service_id = $1`, [SERVICE]);
  await addFusionUser(bridge, ADMIN.username, { password: bcryptOf(ADMIN.password), salt: null }, ['superadmin']);
  tenantKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'tenant', scope: 'tenant', serviceId: SERVICE, access: 'read-write' });
  adminKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'operator', scope: 'admin', access: 'read-write' });
}, 90_000);

afterAll(async () => {
  await bridge?.close();
});

describe('provision.php without a tenant: a global gateway', () => {
  it('missing gateway_name is the documented 400, and nothing is written', async () => {
    const before = await writeCount();
    const { gateway_name: _omitted, ...rest } = DOCUMENTED;
    expectError(await asAdmin('/app/gateways/provision.php', rest), 400, 'Missing Parameters: gateway_name is required');
    expect(await writeCount()).toBe(before);
    expect(await fusionRows('select 1 from v_gateways where domain_uuid is null')).toHaveLength(0);
  });

  it('the documented example writes the row gateway_edit.php saves for domain Global, and FreeSWITCH rescans its profile', async () => {
    bridge.esl.clearRecorded();
    const reply = await asAdmin('/app/gateways/provision.php', DOCUMENTED, { 'x-request-id': 'global-1' });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      status: 'success',
      message: 'Gateway configured successfully',
      gateway_name: 'primary_gateway',
      gateway_domain: 'sip.provider.com',
      gateway_enabled: 'true',
    });
    const [global] = await globalRows('primary_gateway');
    expect(global).toBeDefined();
    expect(global.gateway_uuid).toBe(reply.body.gateway_uuid);
    // The same form for the tenant: the bridge's tenant gateway row (gateway_edit.php's for a domain).
    const tenant = await asAdmin('/app/gateways/provision.php', { ...DOCUMENTED, tenant_domain: domain });
    expect(tenant.status).toBe(200);
    const [own] = await fusionRows('select * from v_gateways where gateway_uuid = $1', [tenant.body.gateway_uuid]);
    expect(own.domain_uuid).not.toBeNull();
    const comparable = (row: Record<string, unknown>) => ({ ...row, gateway_uuid: 'x', domain_uuid: 'x', insert_date: 'x', update_date: 'x' });
    expect(comparable(global)).toEqual(comparable(own));
    expect(global).toMatchObject({ domain_uuid: null, proxy: 'sip.provider.com', username: 'account', password: 'password', context: 'public', profile: 'external' });
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining(['sofia profile external rescan']));
    // The audit row: the gateway job's, service 0, the server named, the password sealed.
    const write = await writeOf('global-1');
    expect(write).toMatchObject({ service_id: '0', resource: 'gateway', operation: 'create', status: 'succeeded', http_status: 201, target: global.gateway_uuid });
    expect(write.input).toEqual({ fields: { name: 'primary_gateway', proxy: 'sip.provider.com', username: 'account', register: true }, server: null });
    expect(JSON.stringify(write.input)).not.toContain('"password"');
  });

  it('the same request again is the same global gateway (an update, unchanged), no duplicate', async () => {
    const [before] = await globalRows('primary_gateway');
    const again = await asAdmin('/app/gateways/provision.php', DOCUMENTED, { 'x-request-id': 'global-2' });
    expect(again.status).toBe(200);
    expect(again.body.gateway_uuid).toBe(before.gateway_uuid);
    expect(await globalRows('primary_gateway')).toHaveLength(1);
    expect(await writeOf('global-2')).toMatchObject({ service_id: '0', operation: 'update', status: 'succeeded', result: { outcome: 'unchanged' } });
    const changed = await asAdmin('/app/gateways/provision.php', { ...DOCUMENTED, gateway_domain: 'sip2.provider.com' });
    expect(changed.body).toMatchObject({ gateway_uuid: before.gateway_uuid, gateway_domain: 'sip2.provider.com' });
    expect((await globalRows('primary_gateway')).map((row) => row.proxy)).toEqual(['sip2.provider.com']);
  });

  it('provision_list.php without a tenant lists the global gateways first (tenant_domain ""), then the tenants’', async () => {
    const [global] = await globalRows('primary_gateway');
    bridge.esl.respond(`sofia xmlstatus gateway ${global.gateway_uuid}`, `<gateway><name>${global.gateway_uuid}</name><state>REGED</state><status>UP</status></gateway>\n`);
    const list = await asAdmin('/app/gateways/provision_list.php', {});
    expect(list.status).toBe(200);
    const gateways = list.body.gateways as Record<string, string>[];
    expect(gateways[0]).toEqual({
      gateway_uuid: global.gateway_uuid,
      gateway_name: 'primary_gateway',
      gateway_domain: 'sip2.provider.com',
      gateway_enabled: 'true',
      gateway_status: 'UP',
      tenant_domain: '',
    });
    expect(gateways.slice(1).every((entry) => entry.tenant_domain === domain)).toBe(true);
    const named = await asAdmin('/app/gateways/provision_list.php', { tenant_domain: domain });
    expect((named.body.gateways as Record<string, string>[]).map((entry) => entry.tenant_domain)).not.toContain('');
    const tenantList = await asKey(tenantKey, '/app/gateways/provision_list.php', {});
    expect((tenantList.body.gateways as Record<string, string>[]).map((entry) => entry.gateway_uuid)).not.toContain(global.gateway_uuid);
  });

  it('a tenant key keeps its tenant: asking for a server is 403 with nothing written; naming none writes its own gateway', async () => {
    const before = await writeCount();
    const refused = await asKey(tenantKey, '/app/gateways/provision.php', { ...DOCUMENTED, gateway_name: 'tenant_try', server: 'default' });
    expectError(refused, 403, 'Access Denied: a tenant API key cannot write global gateways');
    expect(await writeCount()).toBe(before);
    expect(await fusionRows("select 1 from v_gateways where gateway = 'tenant_try'")).toHaveLength(0);
    const own = await asKey(tenantKey, '/app/gateways/provision.php', { ...DOCUMENTED, gateway_name: 'tenant_own' });
    expect(own.status).toBe(200);
    const [row] = await fusionRows("select d.domain_name from v_gateways g join v_domains d using (domain_uuid) where g.gateway = 'tenant_own'");
    expect(row).toEqual({ domain_name: domain });
  });

  it('a tenant’s outbound restriction (credit control’s gateway toggle) never touches a global gateway', async () => {
    const [{ domain_uuid: domainUuid }] = await fusionRows('select domain_uuid::text from v_domains where domain_name = $1', [domain]);
    const [global] = await globalRows('primary_gateway');
    expect(await enabledDomainGateways(bridge.fusion, domainUuid)).not.toContain(global.gateway_uuid);
    const off = await toggleDomainGateways(bridge.fusion, domainUuid, false);
    expect(off.gatewayUuids.length).toBeGreaterThan(0);
    expect(off.gatewayUuids).not.toContain(global.gateway_uuid);
    expect(JSON.stringify(off.steps)).not.toContain(global.gateway_uuid);
    expect((await globalRows('primary_gateway'))[0].enabled).toBe('true');
    await toggleDomainGateways(bridge.fusion, domainUuid, true, off.gatewayUuids);
  });

  it('with several FusionPBX servers, the operator must name one: a 400 naming `server`, nothing written; a named one is written', async () => {
    const { fusionServers } = bridge.api!.deps;
    await fusionServers.add({ name: 'second', databaseUrl: bridge.fusionDb.url, eslHost: bridge.esl.host, eslPort: bridge.esl.port, eslPassword: 'ClueCon' });
    try {
      const before = await writeCount();
      const fields = { ...DOCUMENTED, gateway_name: 'multi_gateway' };
      expectError(
        await asKey(adminKey, '/app/gateways/provision.php', fields),
        400,
        'Missing Parameters: server is required (the bridge has 2 FusionPBX servers: default, second)',
      );
      expectError(await asKey(adminKey, '/app/gateways/provision.php', { ...fields, server: 'third' }), 400, /^Invalid Request: server is not a FusionPBX server you may write/);
      expect(await writeCount()).toBe(before);
      expect(await globalRows('multi_gateway')).toHaveLength(0);
      const written = await asKey(adminKey, '/app/gateways/provision.php', { ...fields, server: 'second' });
      expect(written.status).toBe(200);
      expect(await globalRows('multi_gateway')).toHaveLength(1);
      const [write] = (await bridge.api!.deps.pool.query("SELECT input FROM tenant_writes WHERE input->'fields'->>'name' = 'multi_gateway'")).rows;
      expect(write.input.server).toBe('second');
    } finally {
      await fusionServers.remove('second');
    }
  });
});

describe('a global gateway write whose worker died after the FusionPBX commit', () => {
  it('is replayed: answered created, the row written once, the profile rescanned again', async () => {
    const fields = { ...DOCUMENTED, gateway_name: 'replayed_gateway' };
    await withoutWorker(async () => {
      const pending = await asAdmin('/app/gateways/provision.php', fields, { 'x-request-id': 'global-replay' });
      expect(pending.status).toBe(202);
      expect(pending.body).toMatchObject({ status: 'success', message: 'Gateway configuration queued' });
      const write = await writeOf('global-replay');
      // The first attempt's commit, with the write's own uuid, then its worker died.
      await createGlobalGateway(
        bridge.fusion,
        { name: 'replayed_gateway', proxy: 'sip.provider.com', username: 'account', password: 'password', register: true },
        { gatewayUuid: write.target },
      );
      await bridge.api!.deps.pool.query("UPDATE tenant_writes SET status = 'running', attempts = 1 WHERE write_id = $1", [write.write_id]);
      bridge.esl.clearRecorded();
    });
    await waitFor(async () => (await writeOf('global-replay')).status !== 'running', 20_000, 'the replay');
    const write = await writeOf('global-replay');
    expect(write).toMatchObject({ status: 'succeeded', http_status: 201, attempts: 2, result: { outcome: 'created' } });
    expect((await globalRows('replayed_gateway')).map((row) => row.gateway_uuid)).toEqual([write.target]);
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining(['sofia profile external rescan']));
    const again = await asAdmin('/app/gateways/provision.php', fields, { 'x-request-id': 'global-replay' });
    expect(again).toMatchObject({ status: 200, body: { message: 'Gateway configured successfully', gateway_uuid: write.target } });
  });
});

describe('a global gateway write whose FreeSWITCH side the event socket refuses on every attempt', () => {
  it('is the written row with a warning (202, the FreeSWITCH job to poll), never WRITE_FAILED: the kept answer says so, a new request finds the row, the job applies it once FreeSWITCH answers', async () => {
    const fields = { ...DOCUMENTED, gateway_name: 'refused_gateway' };
    const rescan = 'sofia profile external rescan';
    bridge.esl.fail(rescan, 'profile external is busy');
    const refusal = bridge.esl.failures[0];
    let jobId: string;
    try {
      const reply = await asAdmin('/app/gateways/provision.php', fields, { 'x-request-id': 'global-refused' });
      const write = await writeOf('global-refused');
      jobId = `fs-global-${write.write_id}`;
      const message = 'Gateway configured in FusionPBX; FreeSWITCH not yet: a worker applies it once the event socket answers (job_url)';
      expect(reply.status).toBe(202);
      expect(reply.body).toMatchObject({ status: 'success', message, gateway_uuid: write.target, job_id: jobId, job_url: `/app/jobs/status.php?job_id=${jobId}` });
      // The row is written, and the stored answer says so: a success whose FreeSWITCH side is owed.
      expect((await globalRows('refused_gateway')).map((row) => row.gateway_uuid)).toEqual([write.target]);
      expect(write).toMatchObject({ status: 'succeeded', http_status: 202, error: null, result: { outcome: 'created', freeswitch: { applied: false, job: { id: jobId } } } });
      expect(write.result.freeswitch.message).toBe(
        `FusionPBX is updated; FreeSWITCH not yet (event socket command "${rescan}" failed: -ERR profile external is busy). A worker applies it once the event socket answers: GET /v1/jobs/${jobId}.`,
      );
      // The write's kept answer, as GET /v1/jobs shows it: a success with the job, not a failure.
      const kept = await call(bridge.url, 'GET', `/v1/jobs/${write.write_id}`, { token: adminKey });
      expect(kept.body).toMatchObject({
        state: 'completed',
        write: { status: 'succeeded', httpStatus: 202, error: null, result: { freeswitch: { applied: false, job: { id: jobId } } } },
      });
      // The job keeps trying while FreeSWITCH refuses; the superadmin of the server sees it.
      const queue = bridge.api!.deps.queues.provisioning;
      await waitFor(async () => ((await queue.getJob(jobId))?.attemptsMade ?? 0) >= 3, 30_000, 'three refused attempts of the FreeSWITCH job');
      const status = await asAdmin('/app/jobs/status.php', { job_id: jobId });
      expect(status.status).toBe(200);
      expect(JSON.stringify(status.body)).toContain('profile external is busy');
      expect((await call(bridge.url, 'GET', `/v1/jobs/${jobId}`, { token: tenantKey })).status).toBe(404);
      // A new request finds the gateway (an update, unchanged): no duplicate, no conflict.
      const fresh = await asAdmin('/app/gateways/provision.php', fields, { 'x-request-id': 'global-refused-again' });
      expect(fresh).toMatchObject({ status: 200, body: { message: 'Gateway configured successfully', gateway_uuid: write.target } });
      expect(await globalRows('refused_gateway')).toHaveLength(1);
    } finally {
      bridge.esl.failures.splice(bridge.esl.failures.indexOf(refusal!), 1);
    }
    bridge.esl.clearRecorded();
    const queue = bridge.api!.deps.queues.provisioning;
    await waitFor(async () => (await (await queue.getJob(jobId))?.getState()) === 'completed', 60_000, 'the FreeSWITCH job to apply once the event socket answers');
    expect((await queue.getJob(jobId))!.returnvalue).toEqual({ server: 'default', steps: 2, dropped: 0 });
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([rescan]));
  }, 90_000);
});
