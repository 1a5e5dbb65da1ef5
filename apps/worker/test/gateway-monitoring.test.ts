import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayStatus } from '@ictvoip/freeswitch';
import type { MONITORING_JOBS, TypedJob } from '@ictvoip/queue';
import { gatewayFailing, pollServerGateways } from '../src/jobs/monitoring/gateways-poll';
import { handleRegistrationPoll } from '../src/jobs/monitoring/registrations-poll';
import { runCli } from '../../cli/test/run-cli';
import { startBridge, waitFor, type Bridge } from './harness';

const A = 7201;
const B = 7202;
const DOMAIN_A = 'gwmon-a.pbx.test';
const DOMAIN_B = 'gwmon-b.pbx.test';
const T0 = Date.parse('2026-03-02T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const TRUNK = randomUUID();
const PEER = randomUUID();
const SUSPENDED = randomUUID();

interface Delivery {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { type: string; gatewayUuid: string; gatewayName: string; domain: string; serviceId: number; figures: Record<string, unknown> };
}

let bridge: Bridge;
let receiver: Server;
const deliveries: Delivery[] = [];
/** FreeSWITCH's state of each gateway (absent: not running, `Invalid Gateway!`). */
const states = new Map<string, string>();

/** Element names and order of mod_sofia.c xml_gateway_status. */
function gatewayStatusXml(uuid: string, state: string): string {
  return `<?xml version="1.0" encoding="ISO-8859-1"?>\n<gateway>\n  <name>${uuid}</name>\n  <profile>external</profile>\n  <scheme>Digest</scheme>\n  <realm>sip.carrier.example</realm>\n  <username>acct1</username>\n  <proxy>sip:sip.carrier.example</proxy>\n  <state>${state}</state>\n  <status>UP</status>\n  <uptime-usec>93000000</uptime-usec>\n  <calls-in>4</calls-in>\n  <calls-out>7</calls-out>\n</gateway>\n`;
}

const poll = (seconds: number) => pollServerGateways(bridge.worker!.deps, 'default', at(seconds), bridge.worker!.metrics);

async function history(): Promise<{ gateway_uuid: string; transition: string; failing_since: Date; alert_sent_at: Date | null; figures: Record<string, unknown> }[]> {
  return (await bridge.worker!.deps.pool.query('SELECT * FROM gateway_history ORDER BY id')).rows;
}

async function state(uuid: string): Promise<Record<string, unknown> | undefined> {
  return (await bridge.worker!.deps.pool.query('SELECT * FROM gateway_states WHERE gateway_uuid = $1', [uuid])).rows[0];
}

async function alertsSettled(): Promise<void> {
  await waitFor(
    async () => {
      const counts = await bridge.worker!.deps.queues.monitoring.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    },
    15000,
    'alert jobs to finish',
  );
}

async function seedTenant(serviceId: number, domain: string, desiredState: string, gateways: [string, string, boolean][]): Promise<void> {
  await bridge.worker!.deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES ($1, 1, $2, $3)`, [serviceId, domain, desiredState]);
  const domainUuid = randomUUID();
  await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, domain]);
  for (const [uuid, name, register] of gateways) {
    await bridge.fusion.query(`insert into v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) values ($1, $2, $3, $4, 'external', 'true')`, [
      uuid,
      domainUuid,
      name,
      String(register),
    ]);
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      deliveries.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  // The gateways' own grace period (GATEWAY_DOWN_AFTER_SECONDS), not the phones' 600 s.
  // No ALERT_SIGNING_SECRET here: alerts go out unsigned (registration-monitoring and credit-alerts sign them).
  bridge = await startBridge({ REGISTRATION_LOST_AFTER_SECONDS: '600', GATEWAY_DOWN_AFTER_SECONDS: '180', ALERT_WEBHOOK_URL: url });
  await bridge.startWorker({ schedulers: false });
  await bridge.startApi();
  await seedTenant(A, DOMAIN_A, 'active', [
    [TRUNK, 'carrier', true],
    [PEER, 'peer', false],
  ]);
  await seedTenant(B, DOMAIN_B, 'suspended', [[SUSPENDED, 'suspended-trunk', true]]);
  bridge.esl.respond(/^sofia xmlstatus gateway /, (command) => {
    const uuid = command
      .replace(/^sofia xmlstatus gateway /, '')
      .trim()
      .toLowerCase();
    const current = states.get(uuid);
    return current ? gatewayStatusXml(uuid, current) : 'Invalid Gateway!\n';
  });
}, 60000);

afterAll(async () => {
  await bridge?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('gateway monitoring (event-socket stand-in)', () => {
  it('only REGED is healthy for a registering gateway; a gateway that does not register is healthy while it runs', () => {
    expect(gatewayFailing(true, { running: false })).toBe(true);
    const running = (state: string) => ({ running: true, state }) as GatewayStatus;
    expect(gatewayFailing(true, running('REGED'))).toBe(false);
    for (const state of ['FAIL_WAIT', 'UNREGED', 'TRYING', 'FAILED', 'NOREG']) expect(gatewayFailing(true, running(state))).toBe(true);
    expect(gatewayFailing(false, running('NOREG'))).toBe(false);
  });

  it('records the enabled gateways of active tenants only', async () => {
    states.set(TRUNK, 'REGED');
    states.set(PEER, 'NOREG');
    states.set(SUSPENDED, 'FAIL_WAIT');
    const result = await poll(0);
    expect(result).toMatchObject({ watched: 2, failing: 0, transitions: [] });
    expect(await state(TRUNK)).toMatchObject({ state: 'REGED', status: 'UP', register: true, down: false, failing_since: null, service_id: String(A), gateway_name: 'carrier' });
    expect(await state(PEER)).toMatchObject({ state: 'NOREG', register: false, down: false });
    expect(await state(SUSPENDED)).toBeUndefined();
  });

  it('a gateway failing longer than the grace period gives exactly one down transition and one signed alert', async () => {
    states.set(TRUNK, 'FAIL_WAIT');
    expect((await poll(60)).transitions).toEqual([]);
    expect(await state(TRUNK)).toMatchObject({ state: 'FAIL_WAIT', down: false, failing_since: at(60) });
    // Another failing state within the same episode: still counted from the first.
    states.set(TRUNK, 'UNREGED');
    expect((await poll(180)).transitions).toEqual([]);
    const down = await poll(240);
    expect(down.transitions).toHaveLength(1);
    expect(down.transitions[0]).toMatchObject({ transition: 'down', gatewayUuid: TRUNK, serviceId: A, failingSince: at(60) });
    expect((await poll(300)).transitions).toEqual([]);
    // Replaying an older poll moves nothing back.
    expect((await poll(200)).transitions).toEqual([]);
    expect((await history()).map((row) => [row.gateway_uuid, row.transition])).toEqual([[TRUNK, 'down']]);
    await alertsSettled();
    const alerts = deliveries.filter((delivery) => delivery.body.type.startsWith('gateway.'));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.body).toMatchObject({
      type: 'gateway.down',
      gatewayUuid: TRUNK,
      gatewayName: 'carrier',
      domain: DOMAIN_A,
      serviceId: A,
      figures: { state: 'UNREGED', previousState: 'UNREGED' },
    });
    // Unsigned without ALERT_SIGNING_SECRET: never signed with WHMCS's WEBHOOK_SECRET.
    expect(alerts[0]!.headers['x-ictvoip-signature']).toBeUndefined();
    expect(alerts[0]!.headers['x-ictvoip-timestamp']).toMatch(/^\d+$/);
    expect((await history())[0]!.alert_sent_at).not.toBeNull();
  });

  it('an event socket that is down fails the poll and marks nothing', async () => {
    const before = (await bridge.worker!.deps.pool.query('SELECT gateway_uuid, state, down, failing_since, last_polled_at FROM gateway_states ORDER BY gateway_uuid')).rows;
    states.set(TRUNK, 'REGED');
    await bridge.esl.stop();
    try {
      const errorsBefore = (await bridge.worker!.metrics.gatewayPollErrors.get()).values.find((value) => value.labels.server === 'default')?.value ?? 0;
      await expect(poll(360)).rejects.toThrow();
      await expect(poll(900)).rejects.toThrow();
      expect((await bridge.worker!.metrics.gatewayPollErrors.get()).values.find((value) => value.labels.server === 'default')?.value).toBe(errorsBefore + 2);
      expect(bridge.logLines.some((line) => line.includes('gateway poll failed'))).toBe(true);
      expect((await bridge.worker!.deps.pool.query('SELECT gateway_uuid, state, down, failing_since, last_polled_at FROM gateway_states ORDER BY gateway_uuid')).rows).toEqual(
        before,
      );
      expect(await history()).toHaveLength(1);
    } finally {
      await bridge.esl.start();
    }
  }, 30000);

  it('a gateway that comes back gives exactly one up transition and alert', async () => {
    // The client reconnects on its own; the first poll after the restart may still find it closed.
    const up = await waitFor(
      () =>
        poll(420).then(
          (result) => result,
          () => false as const,
        ),
      15000,
      'a poll after the event socket is back',
    );
    expect(up.transitions).toHaveLength(1);
    expect(up.transitions[0]).toMatchObject({ transition: 'up', gatewayUuid: TRUNK, failingSince: at(60) });
    expect((await poll(480)).transitions).toEqual([]);
    expect(await state(TRUNK)).toMatchObject({ state: 'REGED', down: false, failing_since: null, last_ok: at(480) });
    expect((await history()).map((row) => row.transition)).toEqual(['down', 'up']);
    const durations = (await bridge.worker!.metrics.gatewayPolls.get()).values.filter((value) => value.metricName === 'ictvoip_gateway_poll_duration_seconds_count');
    expect(durations.map((value) => value.labels.outcome).sort()).toEqual(['failed', 'ok']);
    expect((await bridge.worker!.metrics.gatewayTransitions.get()).values.map((value) => [value.labels.transition, value.value])).toEqual(
      expect.arrayContaining([
        ['down', 1],
        ['up', 1],
      ]),
    );
    await alertsSettled();
    const alerts = deliveries.filter((delivery) => delivery.body.type.startsWith('gateway.'));
    expect(alerts.map((delivery) => delivery.body.type)).toEqual(['gateway.down', 'gateway.up']);
    expect(alerts[1]!.headers['x-ictvoip-delivery']).toMatch(/^gateway-alert-\d+$/);
  }, 30000);

  it('a gateway FreeSWITCH does not run (Invalid Gateway!) goes down after the grace period; a removed gateway is forgotten', async () => {
    states.delete(PEER);
    expect((await poll(500)).transitions).toEqual([]);
    expect(await state(PEER)).toMatchObject({ state: 'NOT_RUNNING', failing_since: at(500) });
    const down = await poll(700);
    expect(down.transitions.map((transition) => [transition.gatewayUuid, transition.transition])).toEqual([[PEER, 'down']]);
    await bridge.fusion.query('update v_gateways set enabled = $2 where gateway_uuid = $1', [PEER, 'false']);
    expect((await poll(760)).watched).toBe(1);
    expect(await state(PEER)).toBeUndefined();
    await alertsSettled();
  });

  it('the per-server poll job polls the gateways even when the registrations cannot be read', async () => {
    // No SIP profile answers here: the registrations' poll fails, the job with it, but the gateways were polled.
    const job = { data: { server: 'default', now: at(820).toISOString() } } as unknown as TypedJob<typeof MONITORING_JOBS.poll>;
    await expect(handleRegistrationPoll(bridge.worker!.deps, job)).rejects.toThrow();
    expect(await state(TRUNK)).toMatchObject({ state: 'REGED', last_polled_at: at(820) });
  });

  it('GET /v1/tenants/{tenant}/gateways/{id}/history pages the transitions of one gateway, filters them and exports CSV', async () => {
    const get = async (path: string, accept = 'application/json') => {
      const response = await fetch(`${bridge.url}${path}`, { headers: { authorization: `Bearer ${bridge.config.adminToken}`, accept } });
      return { status: response.status, text: await response.text(), type: response.headers.get('content-type') ?? '' };
    };
    const first = await get(`/v1/tenants/${A}/gateways/${TRUNK}/history?limit=1`);
    expect(first.status).toBe(200);
    const page = JSON.parse(first.text) as { data: { type: string; gatewayUuid: string; failingSince: string }[]; nextCursor: string | null };
    expect(page.data.map((entry) => entry.type)).toEqual(['gateway.up']);
    expect(page.data[0]).toMatchObject({ gatewayUuid: TRUNK, failingSince: at(60).toISOString() });
    const second = JSON.parse((await get(`/v1/tenants/${DOMAIN_A}/gateways/${TRUNK.toUpperCase()}/history?cursor=${page.nextCursor}`)).text) as {
      data: { type: string }[];
      nextCursor: null;
    };
    expect(second).toEqual({ data: [expect.objectContaining({ type: 'gateway.down' })], nextCursor: null });
    const downs = JSON.parse((await get(`/v1/tenants/${A}/gateways/${PEER}/history?type=down`)).text) as { data: { type: string }[] };
    expect(downs.data.map((entry) => entry.type)).toEqual(['gateway.down']);
    const csv = await get(`/v1/tenants/${A}/gateways/${TRUNK}/history`, 'text/csv');
    expect(csv.type).toContain('text/csv');
    expect(csv.text.trim().split('\r\n')).toEqual([
      'id,type,gatewayUuid,gatewayName,domain,at,failingSince,state,status,alertSentAt',
      expect.stringContaining(`,gateway.up,${TRUNK},carrier,${DOMAIN_A},${at(420).toISOString()}`),
      expect.stringContaining(`,gateway.down,${TRUNK},carrier,${DOMAIN_A},${at(240).toISOString()}`),
    ]);
    expect((await get(`/v1/tenants/${A}/gateways/not-a-uuid/history`)).status).toBe(400);
    expect((await get(`/v1/tenants/${A}/gateways/${TRUNK}/history?type=sideways`)).status).toBe(400);
    expect((await get(`/v1/tenants/7299/gateways/${TRUNK}/history`)).status).toBe(404);
    // Another tenant's gateway is not B's: unknown to B, like a uuid it never had (no history leaks across tenants).
    expect(JSON.parse((await get(`/v1/tenants/${B}/gateways/${TRUNK}/history`)).text)).toEqual({ error: { code: 'NOT_FOUND', message: `gateway ${TRUNK} not found` } });
    const openapi = JSON.parse((await get('/openapi.json')).text) as { paths: Record<string, unknown> };
    expect(openapi.paths['/v1/tenants/{tenant}/gateways/{gateway}/history']).toBeDefined();
  });

  it('npx ictvoip registrations gateways lists the states and the transitions', async () => {
    const run = await runCli(bridge.env, ['registrations', 'gateways', '--service', String(A), '--json']);
    expect(run.code).toBe(0);
    expect((run.json.gateways as { gatewayUuid: string; state: string }[]).map((gateway) => [gateway.gatewayUuid, gateway.state])).toEqual([[TRUNK, 'REGED']]);
    expect((run.json.transitions as { transition: string }[]).map((entry) => entry.transition)).toEqual(['down', 'up', 'down']);
    const human = await runCli(bridge.env, ['registrations', 'gateways', '--service', String(A)]);
    expect(human.stdout).toContain(`carrier (${TRUNK})`);
    expect(human.stdout).toContain('gateway up');
    expect((await runCli(bridge.env, ['registrations', 'gateways', '--service', '7299'])).code).not.toBe(0);
  }, 60000);
});
