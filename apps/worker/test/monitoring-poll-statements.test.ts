import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { MONITORING_JOBS } from '@ictvoip/queue';
import { pollServerGateways } from '../src/jobs/monitoring/gateways-poll';
import { pollServerRegistrations } from '../src/jobs/monitoring/registrations-poll';
import { countStatementsOn, type StatementLog } from './count-statements';
import { logRecords, startBridge, type Bridge } from './harness';
import { sofiaRegistrationsXml } from './sofia-registrations-xml';

/**
 * A switch restart moves every phone and gateway of a server at once: a poll writes its transitions
 * (state rows, history rows) in a fixed number of statements on the bridge database, however many
 * there are, and the same poll replayed writes nothing. Counted on every client of the polls' own
 * pool (the alert jobs the worker runs meanwhile use the worker's pool: one job per transition, by design).
 */

const T0 = Date.parse('2026-05-04T08:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

let bridge: Bridge;
let log: StatementLog;
/** The polls' own pool: the alert jobs the worker runs meanwhile use the worker's. */
let pollPool: Pool;
const registered = new Set<string>();
const gatewayStates = new Map<string, string>();
function registrationsXml(): string {
  return sofiaRegistrationsXml(
    [...registered].map((user, index) => ({
      user,
      lanIp: `192.168.7.${10 + (index % 200)}`,
      networkIp: `203.0.113.${10 + (index % 200)}`,
      networkPort: 5060,
      agent: 'Yealink SIP-T46S 66.86.0.15',
      expires: '2026-05-04 09:00:00',
      expiresInSeconds: 3000,
      pingTime: 12.25,
    })),
  );
}

function gatewayXml(uuid: string, state: string): string {
  return `<?xml version="1.0" encoding="ISO-8859-1"?>\n<gateway>\n  <name>${uuid}</name>\n  <profile>external</profile>\n  <scheme>Digest</scheme>\n  <realm>sip.carrier.example</realm>\n  <username>acct1</username>\n  <proxy>sip:sip.carrier.example</proxy>\n  <state>${state}</state>\n  <status>UP</status>\n  <uptime-usec>93000000</uptime-usec>\n  <calls-in>4</calls-in>\n  <calls-out>7</calls-out>\n</gateway>\n`;
}

/** The poll's result and the statements it sent. */
async function counted<T>(work: () => Promise<T>): Promise<{ result: T; statements: number; text: string }> {
  log.statements.length = 0;
  log.counting = true;
  try {
    const result = await work();
    return { result, statements: log.statements.length, text: log.summary() };
  } finally {
    log.counting = false;
  }
}

/** Every row the polls write, with its row version: a replay that rewrote a row with the same values would show. */
async function written(): Promise<Record<string, Record<string, unknown>[]>> {
  const pool = bridge.worker!.deps.pool;
  const read = async (sql: string) => (await pool.query(sql)).rows;
  return {
    registrations: await read('SELECT *, xmin::text AS version FROM registrations ORDER BY domain, extension'),
    registrationHistory: await read('SELECT id, server, domain, extension, service_id, transition, at, missing_since, figures FROM registration_history ORDER BY id'),
    gateways: await read('SELECT *, xmin::text AS version FROM gateway_states ORDER BY gateway_uuid'),
    gatewayHistory: await read('SELECT id, server, gateway_uuid, gateway_name, domain, service_id, transition, at, failing_since, figures FROM gateway_history ORDER BY id'),
  };
}

async function transitionCount(kind: 'gatewayTransitions' | 'registrationTransitions', transition: string): Promise<number> {
  const metric = await bridge.worker!.metrics[kind].get();
  return metric.values.filter((value) => value.labels.transition === transition).reduce((sum, value) => sum + value.value, 0);
}

interface Outcome {
  statements: Record<'registrationsLost' | 'registrationsRestored' | 'gatewaysDown' | 'gatewaysUp', number>;
}

/**
 * N phones and N gateways of a fresh tenant: registered and up, then all gone for longer than the
 * grace period (N `lost`, N `down`), each of those polls replayed, then all back (N `restored`, N `up`).
 */
async function restartSwitch(n: number): Promise<Outcome> {
  await bridge.worker!.deps.pool.query('TRUNCATE registrations, registration_history, registration_servers, gateway_states, gateway_history');
  // The last run's tenant keeps no extension or gateway: only this run's are watched.
  await bridge.fusion.query('delete from v_gateways');
  await bridge.fusion.query('delete from v_extensions');
  const { users, uuids } = await seed(n, n);
  uuids.sort();
  const deps = { ...bridge.worker!.deps, pool: pollPool };
  const metrics = bridge.worker!.metrics;
  const registrations = (seconds: number) => counted(() => pollServerRegistrations(deps, 'default', at(seconds), metrics));
  const gateways = (seconds: number) => counted(() => pollServerGateways(deps, 'default', at(seconds), metrics));
  registered.clear();
  for (const user of users) registered.add(user);
  gatewayStates.clear();
  for (const uuid of uuids) gatewayStates.set(uuid, 'REGED');
  await registrations(0);
  await gateways(0);
  registered.clear();
  for (const uuid of uuids) gatewayStates.set(uuid, 'FAIL_WAIT');
  await registrations(60);
  await gateways(60);
  const [lostBefore, downBefore] = [await transitionCount('registrationTransitions', 'lost'), await transitionCount('gatewayTransitions', 'down')];
  const lost = await registrations(120);
  const down = await gateways(120);
  expect(lost.result.transitions.map((entry) => `${entry.extension}@${entry.domain} ${entry.transition}`)).toEqual(users.map((user) => `${user} lost`));
  expect(down.result.transitions.map((entry) => `${entry.gatewayUuid} ${entry.transition}`)).toEqual(uuids.map((uuid) => `${uuid} down`));
  const after = await written();
  expect(after.registrationHistory).toHaveLength(n);
  expect(after.gatewayHistory).toHaveLength(n);
  // The same polls again, by this worker and by one with no memory: no row, no transition, no metric, no alert.
  for (const replayDeps of [deps, { ...deps }]) {
    expect((await pollServerRegistrations(replayDeps, 'default', at(120), metrics)).transitions).toEqual([]);
    expect((await pollServerGateways(replayDeps, 'default', at(120), metrics)).transitions).toEqual([]);
  }
  expect(await written()).toEqual(after);
  expect(await transitionCount('registrationTransitions', 'lost')).toBe(lostBefore + n);
  expect(await transitionCount('gatewayTransitions', 'down')).toBe(downBefore + n);
  for (const uuid of uuids) expect(logRecords(bridge, (record) => record.msg === 'gateway down' && record.gatewayUuid === uuid)).toHaveLength(1);
  const alertJobs = await bridge.worker!.deps.queues.monitoring.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed']);
  const gatewayIds = new Set(after.gatewayHistory.map((row) => Number(row.id)));
  expect(alertJobs.filter((job) => job.name === MONITORING_JOBS.alert && job.data.kind === 'gateway' && gatewayIds.has(job.data.historyId))).toHaveLength(n);
  for (const user of users) registered.add(user);
  for (const uuid of uuids) gatewayStates.set(uuid, 'REGED');
  const restored = await registrations(180);
  const up = await gateways(180);
  expect(restored.result.transitions.map((entry) => entry.transition)).toEqual(users.map(() => 'restored'));
  expect(up.result.transitions.map((entry) => entry.transition)).toEqual(uuids.map(() => 'up'));
  return { statements: { registrationsLost: lost.statements, registrationsRestored: restored.statements, gatewaysDown: down.statements, gatewaysUp: up.statements } };
}

let serviceId = 9300;

async function seed(extensions: number, gateways: number): Promise<{ users: string[]; uuids: string[] }> {
  serviceId += 1;
  const domain = `stmt-${serviceId}.pbx.test`;
  await bridge.worker!.deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES ($1, 1, $2, 'active')`, [serviceId, domain]);
  const domainUuid = randomUUID();
  await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, domain]);
  const users: string[] = [];
  for (let index = 0; index < extensions; index += 1) {
    const extension = String(100 + index);
    await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, enabled) values ($1, $2, $3, 'true')`, [randomUUID(), domainUuid, extension]);
    users.push(`${extension}@${domain}`);
  }
  const uuids: string[] = [];
  for (let index = 0; index < gateways; index += 1) {
    const uuid = randomUUID();
    await bridge.fusion.query(`insert into v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) values ($1, $2, $3, 'true', 'external', 'true')`, [
      uuid,
      domainUuid,
      `gw${index}`,
    ]);
    uuids.push(uuid);
  }
  return { users, uuids };
}

beforeAll(async () => {
  bridge = await startBridge({ REGISTRATION_LOST_AFTER_SECONDS: '60', GATEWAY_DOWN_AFTER_SECONDS: '60' });
  await bridge.startWorker({ schedulers: false });
  bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => registrationsXml());
  bridge.esl.respond("sofia xmlstatus profile 'external' reg", () => registrationsXml().replace(/<registration>[\s\S]*<\/registration>\n/, ''));
  bridge.esl.respond(/^sofia xmlstatus gateway /, (command) => {
    const state = gatewayStates.get(
      command
        .replace(/^sofia xmlstatus gateway /, '')
        .trim()
        .toLowerCase(),
    );
    return state ? gatewayXml(command, state) : 'Invalid Gateway!\n';
  });
  pollPool = new Pool({ connectionString: bridge.bridgeDb.url, max: 4 });
  log = countStatementsOn(pollPool);
}, 60000);

afterAll(async () => {
  await pollPool?.end();
  await bridge?.close();
});

it('writes a poll of 3 or 60 transitions in the same statements, and a replayed poll writes nothing', async () => {
  const few = await restartSwitch(3);
  const many = await restartSwitch(60);
  // Was 6 a gateway (BEGIN, INSERT, SELECT … FOR UPDATE, UPDATE, history INSERT, COMMIT) and 5 for one that does not move.
  expect(many.statements).toEqual(few.statements);
  for (const count of Object.values(many.statements)) expect(count).toBeLessThanOrEqual(12);
}, 120000);
