/**
 * Suspend (and terminate) end the tenant's calls in progress, emergency calls apart: after the
 * database side commits, the tenant's FreeSWITCH steps end with a hangup (`show channels as json`,
 * then `uuid_kill <uuid> <cause>` for each of the domain's channels but the legs of an emergency
 * call), through the service's FreeSWITCH backlog like its cache deletes. An event-socket outage
 * never holds up the suspend; the hangup goes out when the socket answers again, unless the tenant
 * was unsuspended meanwhile.
 */
import { SUSPEND_HANGUP_CAUSE } from '@ictvoip/rating';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, waitFor, type Bridge } from './harness';

let bridge: Bridge;

beforeAll(async () => {
  // An outage here is a stopped stand-in (refused at once); the retried backlog job waits at most 300 ms.
  bridge = await startBridge({ ESL_TIMEOUT_MS: '10000', FREESWITCH_RETRY_MAX_MS: '300' });
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});
afterEach(async () => {
  bridge.esl.beforeAnswer = null;
  if (!bridge.esl.listening) await bridge.esl.start();
});

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const statusOf = async (eventId: string) => (await bridgeRows('SELECT status FROM webhook_inbox WHERE event_id = $1', [eventId]))[0]?.status as string | undefined;
const domainEnabled = async (domain: string) => (await fusionRows('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain]))[0]?.enabled;
const backlogOf = async (serviceId: number) => (await bridgeRows('SELECT pending_apply FROM services WHERE service_id = $1', [serviceId]))[0]?.pending_apply;
const domainOf = (serviceId: number) => `t${serviceId}.pbx.example.net`;
const LISTING = 'show channels as json';
/** How many times the channels were listed to end calls (only a hangup lists them). */
const listings = () => bridge.esl.apiCommands.filter((command) => command === LISTING).length;
/** The uuid_kill commands sent for these channels. */
const killsOf = (uuids: readonly string[]) => bridge.esl.apiCommands.filter((command) => uuids.some((uuid) => command.startsWith(`uuid_kill ${uuid} `)));

function eventOf(serviceId: number, action: string): Record<string, unknown> {
  const event = buildEvent({ serviceId, action });
  if (action !== 'create') delete event.secrets;
  return event;
}

async function post(event: Record<string, unknown>): Promise<string> {
  const reply = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=0' });
  expect([200, 202]).toContain(reply.status);
  return String(event.eventId);
}

const send = (serviceId: number, action: string) => post(eventOf(serviceId, action));

async function tenantStatus(serviceId: number): Promise<string | undefined> {
  const [row] = await fusionRows(
    `SELECT s.domain_setting_value::jsonb->>'status' AS status FROM v_domain_settings s JOIN v_domains d USING (domain_uuid)
      WHERE d.domain_name = $1 AND s.domain_setting_category = 'ictvoip' AND s.domain_setting_subcategory = 'state'`,
    [domainOf(serviceId)],
  );
  return row?.status;
}

/** The tenant's status in FusionPBX each time a kill of one of these channels reached FreeSWITCH (before it acts). */
function recordStatusAtHangup(serviceId: number, uuids: readonly string[]): (string | undefined)[] {
  const seen: (string | undefined)[] = [];
  bridge.esl.beforeAnswer = async (command) => {
    if (uuids.some((uuid) => command.startsWith(`uuid_kill ${uuid} `))) seen.push(await tenantStatus(serviceId));
  };
  return seen;
}

async function until(eventId: string, status: 'succeeded' | 'pending_apply'): Promise<void> {
  await waitFor(async () => (await statusOf(eventId)) === status, 30000, `event ${eventId} ${status}`);
}

async function createTenant(serviceId: number): Promise<void> {
  await until(await send(serviceId, 'create'), 'succeeded');
}

const GATEWAY = 'sofia/gateway/0e5b6a2c-7a0e-4c2b-9a55-3f1b2c4d5e6f';

/** An extension of `domain` calling out through a gateway: the phone's leg and the carrier's, bridged (FreeSWITCH routes both in the domain's context). */
function outboundCall(domain: string, dialled: string): [string, string] {
  return bridge.esl.addBridgedCall(
    { context: domain, dest: dialled, cid_num: '100', presence_id: `100@${domain}`, callee_num: dialled, application: 'bridge', application_data: `${GATEWAY}/${dialled}` },
    { context: domain, dest: dialled, cid_num: '100', name: `sofia/external/${dialled}` },
  );
}

/**
 * The tenant's paid outbound call (two legs) and its internal call (two legs), its 911 call (two
 * legs), and a call of another domain.
 */
function callsUp(serviceId: number): { tenant: string[]; emergency: string[]; other: string[] } {
  const domain = domainOf(serviceId);
  const internal = bridge.esl.addBridgedCall({ context: domain, dest: '101', presence_id: `100@${domain}` }, { context: domain, dest: '101', presence_id: `101@${domain}` });
  return {
    tenant: [...outboundCall(domain, '12125550100'), ...internal],
    emergency: outboundCall(domain, '911'),
    other: outboundCall('someone-else.pbx.example.net', '12125550100'),
  };
}

const CUT = Array(4).fill(SUSPEND_HANGUP_CAUSE);
const UP = Array(4).fill(null);

const causesOf = (uuids: readonly string[]) => uuids.map((uuid) => bridge.esl.hangupCauseOf(uuid));

describe('suspend ends the tenant calls in progress', () => {
  it("after its cache deletes and registration flushes, with the suspend cause; its emergency call and other domains' calls stay up; a replay sends nothing again", async () => {
    const serviceId = 7301;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    bridge.esl.clearRecorded();

    const suspendEvent = eventOf(serviceId, 'suspend');
    const suspended = await post(suspendEvent);
    await until(suspended, 'succeeded');

    expect(causesOf(calls.tenant)).toEqual(CUT);
    // A suspended non-payer's 911 call is never dropped, neither of its legs.
    expect(causesOf(calls.emergency)).toEqual([null, null]);
    expect(causesOf(calls.other)).toEqual([null, null]);
    expect(killsOf([...calls.emergency, ...calls.other])).toEqual([]);
    const commands = [...bridge.esl.apiCommands];
    expect(commands.filter((command) => command.startsWith('hupall'))).toEqual([]);
    // Nothing but the kills is sent after the listing: new calls are stopped (rows, caches, registrations) before the ones up are ended.
    const listedAt = commands.indexOf(LISTING);
    expect(listings()).toBe(1);
    expect(commands.slice(listedAt + 1).sort()).toEqual(calls.tenant.map((uuid) => `uuid_kill ${uuid} ${SUSPEND_HANGUP_CAUSE}`).sort());
    expect(commands.slice(0, listedAt).some((command) => command.includes('flush_inbound_reg'))).toBe(true);

    // The same job replayed finds its event finished; WHMCS sending the same event again is the same event.
    const [row] = await bridgeRows('SELECT job_id FROM webhook_inbox WHERE event_id = $1', [suspended]);
    const queue = bridge.worker!.deps.queues.provisioning;
    const job = await queue.getJob(row.job_id);
    await waitFor(async () => (await job!.getState()) === 'completed', 10000, 'the suspend job completed');
    await job!.remove();
    const lateCall = bridge.esl.addChannel({ context: domainOf(serviceId), dest: '12125550100' });
    await queue.add('tenant.suspend', job!.data, { jobId: row.job_id });
    await waitFor(async () => (await queue.getJob(row.job_id))?.finishedOn !== undefined, 10000, 'replayed job finished');
    expect((await queue.getJob(row.job_id))!.returnvalue).toEqual([{ eventId: suspended, status: 'skipped', message: 'already finished' }]);
    expect(await post(suspendEvent)).toBe(suspended);
    expect(await statusOf(suspended)).toBe('succeeded');
    expect(listings()).toBe(1);
    expect(bridge.esl.hangupCauseOf(lateCall)).toBeNull();
  });

  it('never waits for the event socket: FusionPBX is suspended at once, the calls are ended when the socket answers again', async () => {
    const serviceId = 7302;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    await bridge.esl.stop();
    bridge.esl.clearRecorded();

    const suspended = await send(serviceId, 'suspend');
    await until(suspended, 'pending_apply');
    expect(await domainEnabled(domainOf(serviceId))).toBe('false');
    expect((await backlogOf(serviceId)).steps).toContainEqual({ kind: 'hangup_calls', domain: domainOf(serviceId), cause: SUSPEND_HANGUP_CAUSE });
    expect(causesOf(calls.tenant)).toEqual(UP);

    await bridge.esl.start();
    await until(suspended, 'succeeded');
    expect(causesOf(calls.tenant)).toEqual(CUT);
    expect(causesOf([...calls.emergency, ...calls.other])).toEqual(UP);
    expect(listings()).toBe(1);
    expect(await backlogOf(serviceId)).toBeNull();
  });

  it('is not sent once the tenant was unsuspended before the socket came back; a suspend after that unsuspend sends it', async () => {
    const serviceId = 7303;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    const statusAtHangup = recordStatusAtHangup(serviceId, calls.tenant);
    await bridge.esl.stop();
    bridge.esl.clearRecorded();

    const suspended = await send(serviceId, 'suspend');
    await until(suspended, 'pending_apply');
    const unsuspended = await send(serviceId, 'unsuspend');
    await until(unsuspended, 'pending_apply');
    // Still owed when the socket comes back: what stops it is the tenant's state then, not its absence here.
    expect((await backlogOf(serviceId)).steps).toContainEqual({ kind: 'hangup_calls', domain: domainOf(serviceId), cause: SUSPEND_HANGUP_CAUSE });

    await bridge.esl.start();
    await until(suspended, 'succeeded');
    await until(unsuspended, 'succeeded');
    expect(listings()).toBe(0);
    expect(killsOf(calls.tenant)).toEqual([]);
    expect(causesOf(calls.tenant)).toEqual(UP);
    expect(bridge.esl.apiCommands.length).toBeGreaterThan(0);

    // Down again: suspend, unsuspend, suspend. The tenant is suspended when the socket answers.
    await bridge.esl.stop();
    const events = [await send(serviceId, 'suspend'), await send(serviceId, 'unsuspend'), await send(serviceId, 'suspend')];
    for (const eventId of events) await until(eventId, 'pending_apply');
    await bridge.esl.start();
    for (const eventId of events) await until(eventId, 'succeeded');
    expect(causesOf(calls.tenant)).toEqual(CUT);
    expect(causesOf(calls.emergency)).toEqual([null, null]);
    // An apply that read the backlog before the last suspend joined it sends it again (every step is
    // idempotent): a hangup may go out twice, but only ever while the tenant is suspended.
    expect(statusAtHangup.length).toBeGreaterThanOrEqual(1);
    expect(new Set(statusAtHangup)).toEqual(new Set(['suspended']));
  });

  it('is not sent late: a send held up past its check while an unsuspend commits does not cut the unsuspended calls', async () => {
    const serviceId = 7305;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    const statusAtHangup = recordStatusAtHangup(serviceId, calls.tenant);
    const recordHangup = bridge.esl.beforeAnswer!;
    let held = false;
    // FreeSWITCH stalls on the suspend's first command (a slow socket) until the unsuspend has committed in FusionPBX.
    bridge.esl.beforeAnswer = async (command, connection) => {
      if (!held && command.includes(domainOf(serviceId))) {
        held = true;
        await waitFor(async () => (await tenantStatus(serviceId)) === 'active', 30000, 'the unsuspend committed');
      }
      await recordHangup(command, connection);
    };

    const suspended = await send(serviceId, 'suspend');
    const unsuspended = await send(serviceId, 'unsuspend');
    for (const eventId of [suspended, unsuspended]) await until(eventId, 'succeeded');
    expect(held).toBe(true);
    expect(statusAtHangup).not.toContain('active');
    expect(causesOf(calls.tenant)).toEqual(UP);
    // The suspend's hangup was owed and left out as it went out (not missing from the start). The job
    // logs this after its transaction marked the events succeeded, so the line may trail the status.
    const droppedLine = () =>
      bridge.logLines.map((line) => JSON.parse(line)).find((line) => line.msg === 'FreeSWITCH backlog applied' && line.serviceId === serviceId && line.dropped >= 1);
    const line = await waitFor(async () => droppedLine(), 5000, "the backlog job's line with the hangup left out");
    expect(line.dropped).toBeGreaterThanOrEqual(1);
  });

  it('unsuspend sends no hangup; terminate ends the calls like suspend', async () => {
    const serviceId = 7304;
    await createTenant(serviceId);
    await until(await send(serviceId, 'suspend'), 'succeeded');
    const calls = callsUp(serviceId);
    bridge.esl.clearRecorded();

    await until(await send(serviceId, 'unsuspend'), 'succeeded');
    expect(listings()).toBe(0);
    expect(causesOf(calls.tenant)).toEqual(UP);

    await until(await send(serviceId, 'terminate'), 'succeeded');
    expect(listings()).toBe(1);
    expect(causesOf(calls.tenant)).toEqual(CUT);
    expect(causesOf(calls.emergency)).toEqual([null, null]);
  });
});
