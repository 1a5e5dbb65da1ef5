/**
 * Suspend (and terminate) end the tenant's calls in progress: after the database side commits, the
 * tenant's FreeSWITCH steps end with `hupall <cause> domain_name <domain>`, through the service's
 * FreeSWITCH backlog like its cache deletes. An event-socket outage never holds up the suspend; the
 * hangup goes out when the socket answers again, unless the tenant was unsuspended meanwhile.
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
const hangupCommand = (serviceId: number) => `hupall ${SUSPEND_HANGUP_CAUSE} domain_name ${domainOf(serviceId)}`;
const hangupsOf = (serviceId: number) => bridge.esl.apiCommands.filter((command) => command === hangupCommand(serviceId)).length;

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

/** The tenant's status in FusionPBX each time a hangup of its domain reached FreeSWITCH (before it acts). */
function recordStatusAtHangup(serviceId: number): (string | undefined)[] {
  const seen: (string | undefined)[] = [];
  bridge.esl.beforeAnswer = async (command) => {
    if (command === hangupCommand(serviceId)) seen.push(await tenantStatus(serviceId));
  };
  return seen;
}

async function until(eventId: string, status: 'succeeded' | 'pending_apply'): Promise<void> {
  await waitFor(async () => (await statusOf(eventId)) === status, 30000, `event ${eventId} ${status}`);
}

async function createTenant(serviceId: number): Promise<void> {
  await until(await send(serviceId, 'create'), 'succeeded');
}

/** Two legs of a call of the tenant (FusionPBX sets domain_name on both) and a call of another domain. */
function callsUp(serviceId: number): { tenant: string[]; other: string } {
  const domain = domainOf(serviceId);
  return {
    tenant: [bridge.esl.addChannel({ domain_name: domain, destination_number: '12125550100' }), bridge.esl.addChannel({ domain_name: domain, destination_number: '101' })],
    other: bridge.esl.addChannel({ domain_name: 'someone-else.pbx.example.net', destination_number: '12125550100' }),
  };
}

const causesOf = (uuids: string[]) => uuids.map((uuid) => bridge.esl.hangupCauseOf(uuid));

describe('suspend ends the tenant calls in progress', () => {
  it('after its cache deletes and registration flushes, with the suspend cause; other domains keep theirs; a replay sends nothing again', async () => {
    const serviceId = 7301;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    bridge.esl.clearRecorded();

    const suspendEvent = eventOf(serviceId, 'suspend');
    const suspended = await post(suspendEvent);
    await until(suspended, 'succeeded');

    expect(causesOf(calls.tenant)).toEqual([SUSPEND_HANGUP_CAUSE, SUSPEND_HANGUP_CAUSE]);
    expect(bridge.esl.hangupCauseOf(calls.other)).toBeNull();
    const commands = [...bridge.esl.apiCommands];
    expect(commands.filter((command) => command.startsWith('hupall'))).toEqual([hangupCommand(serviceId)]);
    // Nothing is sent after it: new calls are stopped (rows, caches, registrations) before the ones up are ended.
    expect(commands[commands.length - 1]).toBe(hangupCommand(serviceId));
    expect(commands.some((command) => command.includes('flush_inbound_reg'))).toBe(true);

    // The same job replayed finds its event finished; WHMCS sending the same event again is the same event.
    const [row] = await bridgeRows('SELECT job_id FROM webhook_inbox WHERE event_id = $1', [suspended]);
    const queue = bridge.worker!.deps.queues.provisioning;
    const job = await queue.getJob(row.job_id);
    await waitFor(async () => (await job!.getState()) === 'completed', 10000, 'the suspend job completed');
    await job!.remove();
    const lateCall = bridge.esl.addChannel({ domain_name: domainOf(serviceId) });
    await queue.add('tenant.suspend', job!.data, { jobId: row.job_id });
    await waitFor(async () => (await queue.getJob(row.job_id))?.finishedOn !== undefined, 10000, 'replayed job finished');
    expect((await queue.getJob(row.job_id))!.returnvalue).toEqual([{ eventId: suspended, status: 'skipped', message: 'already finished' }]);
    expect(await post(suspendEvent)).toBe(suspended);
    expect(await statusOf(suspended)).toBe('succeeded');
    expect(hangupsOf(serviceId)).toBe(1);
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
    expect(causesOf(calls.tenant)).toEqual([null, null]);

    await bridge.esl.start();
    await until(suspended, 'succeeded');
    expect(causesOf(calls.tenant)).toEqual([SUSPEND_HANGUP_CAUSE, SUSPEND_HANGUP_CAUSE]);
    expect(bridge.esl.hangupCauseOf(calls.other)).toBeNull();
    expect(hangupsOf(serviceId)).toBe(1);
    expect(await backlogOf(serviceId)).toBeNull();
  });

  it('is not sent once the tenant was unsuspended before the socket came back; a suspend after that unsuspend sends it', async () => {
    const serviceId = 7303;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    const statusAtHangup = recordStatusAtHangup(serviceId);
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
    expect(bridge.esl.apiCommands.filter((command) => command.startsWith('hupall'))).toEqual([]);
    expect(causesOf(calls.tenant)).toEqual([null, null]);
    expect(bridge.esl.apiCommands.length).toBeGreaterThan(0);

    // Down again: suspend, unsuspend, suspend. The tenant is suspended when the socket answers.
    await bridge.esl.stop();
    const events = [await send(serviceId, 'suspend'), await send(serviceId, 'unsuspend'), await send(serviceId, 'suspend')];
    for (const eventId of events) await until(eventId, 'pending_apply');
    await bridge.esl.start();
    for (const eventId of events) await until(eventId, 'succeeded');
    expect(causesOf(calls.tenant)).toEqual([SUSPEND_HANGUP_CAUSE, SUSPEND_HANGUP_CAUSE]);
    // An apply that read the backlog before the last suspend joined it sends it again (every step is
    // idempotent): a hangup may go out twice, but only ever while the tenant is suspended.
    expect(statusAtHangup.length).toBeGreaterThanOrEqual(1);
    expect(new Set(statusAtHangup)).toEqual(new Set(['suspended']));
  });

  it('is not sent late: a send held up past its check while an unsuspend commits does not cut the unsuspended calls', async () => {
    const serviceId = 7305;
    await createTenant(serviceId);
    const calls = callsUp(serviceId);
    const statusAtHangup = recordStatusAtHangup(serviceId);
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
    expect(causesOf(calls.tenant)).toEqual([null, null]);
    // The suspend's hangup was owed and left out as it went out (not missing from the start).
    const applied = bridge.logLines.map((line) => JSON.parse(line)).filter((line) => line.msg === 'FreeSWITCH backlog applied' && line.serviceId === serviceId);
    expect(applied.some((line) => line.dropped >= 1)).toBe(true);
  });

  it('unsuspend sends no hangup; terminate ends the calls like suspend', async () => {
    const serviceId = 7304;
    await createTenant(serviceId);
    await until(await send(serviceId, 'suspend'), 'succeeded');
    const calls = callsUp(serviceId);
    bridge.esl.clearRecorded();

    await until(await send(serviceId, 'unsuspend'), 'succeeded');
    expect(bridge.esl.apiCommands.filter((command) => command.startsWith('hupall'))).toEqual([]);
    expect(causesOf(calls.tenant)).toEqual([null, null]);

    await until(await send(serviceId, 'terminate'), 'succeeded');
    expect(hangupsOf(serviceId)).toBe(1);
    expect(causesOf(calls.tenant)).toEqual([SUSPEND_HANGUP_CAUSE, SUSPEND_HANGUP_CAUSE]);
  });
});
