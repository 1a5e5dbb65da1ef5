import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { MONITORING_JOBS, registrationPollJobId, type TypedJob } from '@ictvoip/queue';
import { FusionServersRepository } from '@ictvoip/store';
import { handleRegistrationPollAll } from '../src/jobs/monitoring/registrations-poll';
import { logRecords, startBridge, startSecondFusionServer, waitFor, type Bridge, type SecondFusionServer } from './harness';

/*
 * `ictvoip servers remove` while the worker runs: the scheduled round reads the registry every time, so
 * a removed server is polled no more (not once per round with FUSIONPBX_SERVER_GONE until a restart),
 * and a server added back is polled again by the next round, all without restarting the worker.
 */

const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SECOND_ESL_PASSWORD = 'Removed-Server-Esl-4410';
const T0 = Date.parse('2026-04-06T08:00:00Z');

let bridge: Bridge;
let second: SecondFusionServer;
let registry: FusionServersRepository;

const register = () => registry.add({ name: 'pbx-gone', databaseUrl: second.db.url, eslHost: second.esl.host, eslPort: second.esl.port, eslPassword: SECOND_ESL_PASSWORD });

beforeAll(async () => {
  bridge = await startBridge({}, { logLevel: 'info' });
  second = await startSecondFusionServer(SECOND_ESL_PASSWORD);
  await bridge.startApi();
  for (const esl of [bridge.esl, second.esl]) esl.respond(/^sofia xmlstatus profile /, SAMPLE_REG);
  await bridge.startWorker({ schedulers: false });
  registry = new FusionServersRepository(bridge.worker!.deps.pool, bridge.config.sealing);
  await register();
}, 60000);
afterAll(async () => {
  await bridge.close();
  await second.close();
});

/** The scheduled round of slot `n` (as the job scheduler runs it), and each poll job it queued, once finished. */
async function round(n: number): Promise<{ enqueued: number; polls: Map<string, Job> }> {
  const now = new Date(T0 + n * bridge.config.monitoring.pollSeconds * 1000).toISOString();
  const slot = `t${Math.floor(Date.parse(now) / (bridge.config.monitoring.pollSeconds * 1000))}`;
  const { enqueued } = await handleRegistrationPollAll(bridge.worker!.deps, { data: { now } } as unknown as TypedJob<typeof MONITORING_JOBS.pollAll>);
  const queue = bridge.worker!.deps.queues.monitoring;
  const polls = new Map<string, Job>();
  for (const server of ['default', 'pbx-gone']) {
    const id = registrationPollJobId(server, slot);
    if (!(await queue.getJob(id))) continue;
    // State first, then the job: a job read while active and found finished after carries no outcome yet.
    polls.set(server, await waitFor(async () => (['completed', 'failed'].includes(await queue.getJobState(id)) ? ((await queue.getJob(id)) ?? null) : null), 15000, `poll ${id}`));
  }
  return { enqueued, polls };
}

const polledRow = async () =>
  (await bridge.worker!.deps.pool.query("SELECT polled_at FROM registration_servers WHERE server = 'pbx-gone'")).rows[0] as { polled_at: Date } | undefined;
const sofiaCommands = () => second.esl.apiCommands.filter((command) => command.startsWith('sofia '));
const pollLogsOfRemoved = () =>
  logRecords(bridge, (record) => record.server === 'pbx-gone' && (record.level as number) >= 40).map((record) => `${String(record.msg)}: ${String(record.err)}`);

it('a server removed while its poll waits on FreeSWITCH is polled no more, with nothing logged each round; added back, it is polled again', async () => {
  const first = await round(0);
  expect(first.enqueued).toBe(2);
  expect(first.polls.get('pbx-gone')?.returnvalue).toMatchObject({ server: 'pbx-gone', watched: 0 });
  expect(await polledRow()).toBeDefined();

  // The removal lands while the poll's `sofia xmlstatus` is unanswered: the poll then writes (the server's poll time) after it.
  let removed = false;
  second.esl.beforeAnswer = async (command) => {
    if (removed || !command.startsWith('sofia ')) return;
    removed = await registry.remove('pbx-gone');
  };
  const during = await round(1);
  second.esl.beforeAnswer = null;
  expect(removed).toBe(true);
  expect(during.polls.has('pbx-gone')).toBe(true);
  // Its rows went with it and the late write did not bring them back.
  expect(await polledRow()).toBeUndefined();
  const loggedDuringRemoval = pollLogsOfRemoved().length;
  expect(loggedDuringRemoval).toBeLessThanOrEqual(1);

  second.esl.clearRecorded();
  for (const n of [2, 3, 4]) {
    const after = await round(n);
    expect({ n, enqueued: after.enqueued, servers: [...after.polls.keys()] }).toEqual({ n, enqueued: 1, servers: ['default'] });
  }
  expect(sofiaCommands()).toEqual([]);
  expect(pollLogsOfRemoved()).toHaveLength(loggedDuringRemoval);
  // Its connections are closed, and said once, not every round.
  await waitFor(async () => second.esl.openConnections === 0, 5000, "the worker's event socket to the removed server closed");
  expect(logRecords(bridge, (record) => String(record.msg).includes('no longer registered')).map((record) => record.servers)).toEqual([['pbx-gone']]);
  expect(logRecords(bridge, (record) => JSON.stringify(record).includes('FUSIONPBX_SERVER_GONE'))).toEqual([]);

  await register();
  const back = await round(5);
  expect(back.enqueued).toBe(2);
  expect(back.polls.get('pbx-gone')?.returnvalue).toMatchObject({ server: 'pbx-gone', watched: 0 });
  expect(second.esl.openConnections).toBeGreaterThan(0);
  expect(sofiaCommands().length).toBeGreaterThan(0);
  expect(await polledRow()).toBeDefined();
  expect(pollLogsOfRemoved()).toHaveLength(loggedDuringRemoval);
}, 60000);

it("the API's /status scan lets go of a server removed since: its event socket to it is closed", async () => {
  const status = async () => ((await fetch(`${bridge.url}/status`)).status === 200 ? true : null);
  // The worker's connection closed (the round), the API's opened by /status asking the server.
  expect(await round(6)).toMatchObject({ enqueued: 2 });
  expect(await waitFor(status, 5000, '/status')).toBe(true);
  expect(second.esl.openConnections).toBeGreaterThan(0);
  expect(await registry.remove('pbx-gone')).toBe(true);
  await round(7);
  expect(await waitFor(status, 5000, '/status')).toBe(true);
  await waitFor(async () => second.esl.openConnections === 0, 5000, "the API's and the worker's event sockets to the removed server closed");
}, 60000);
