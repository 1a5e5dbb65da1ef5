import { FREESWITCH_JOBS, freeswitchBacklogJobId } from '@ictvoip/queue';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { buildDriftReport, driftSourcesOf } from '@ictvoip/operations';
import { reconcileInbox } from '../src';
import { addWriteSteps } from '../src/jobs/freeswitch/freeswitch-backlog';
import { startBridge, waitFor, type Bridge } from './harness';

let bridge: Bridge;

beforeAll(async () => {
  // No test here waits on an event-socket timeout (an outage is a stopped stand-in, refused at once), and the
  // stand-in's answer hook writes a row per command: under CI load one answer took over the harness's 1 s.
  bridge = await startBridge({ ESL_TIMEOUT_MS: '10000' });
  await bridge.startApi();
});
afterAll(async () => {
  await bridge.close();
});
afterEach(async () => {
  bridge.esl.beforeAnswer = null;
  await bridge.worker?.close();
  bridge.worker = null;
  if (!bridge.esl.listening) await bridge.esl.start();
});

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const inbox = async (eventId: unknown) => (await bridgeRows('SELECT status, attempts, last_error FROM webhook_inbox WHERE event_id = $1', [eventId]))[0];
const domainEnabled = async (domain: string) => (await fusionRows('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain]))[0]?.enabled;
const backlogOf = async (serviceId: number) => (await bridgeRows('SELECT pending_apply FROM services WHERE service_id = $1', [serviceId]))[0]?.pending_apply;

async function send(serviceId: number, action: string): Promise<string> {
  const event = buildEvent({ serviceId, action });
  // Only create and change_password carry secrets.
  if (action !== 'create') delete event.secrets;
  const reply = await postWebhook(bridge.url, JSON.stringify(event), { query: '?wait=0' });
  expect([200, 202]).toContain(reply.status);
  return String(event.eventId);
}

async function untilPendingApply(eventId: string): Promise<void> {
  await waitFor(async () => (await inbox(eventId)).status === 'pending_apply', 15000, `event ${eventId} pending_apply`);
}

describe('an event socket that does not answer', () => {
  it('never holds up suspend, unsuspend or terminate: FusionPBX follows each in order, FreeSWITCH gets one coalesced apply', async () => {
    const serviceId = 7101;
    const domain = `t${serviceId}.pbx.example.net`;
    await bridge.startWorker({ schedulers: false });
    await bridge.esl.stop();

    const created = await send(serviceId, 'create');
    await untilPendingApply(created);
    expect(await domainEnabled(domain)).toBe('true');

    const suspended = await send(serviceId, 'suspend');
    await untilPendingApply(suspended);
    expect(await domainEnabled(domain)).toBe('false');
    // The suspend's own message: its database side is done, only FreeSWITCH waits.
    const suspendRow = await inbox(suspended);
    expect(suspendRow.attempts).toBe(1);
    expect(suspendRow.last_error).toMatch(/^FusionPBX updated; FreeSWITCH side pending since/);

    const unsuspended = await send(serviceId, 'unsuspend');
    await untilPendingApply(unsuspended);
    expect(await domainEnabled(domain)).toBe('true');

    const terminated = await send(serviceId, 'terminate');
    await untilPendingApply(terminated);
    expect(await domainEnabled(domain)).toBe('false');
    const [service] = await bridgeRows('SELECT desired_state, observed_state FROM services WHERE service_id = $1', [serviceId]);
    expect(service).toEqual({ desired_state: 'terminated', observed_state: 'terminated' });

    const backlog = await backlogOf(serviceId);
    expect(backlog.events.map((event: { eventId: string }) => event.eventId)).toEqual([created, suspended, unsuspended, terminated]);
    const identities = backlog.steps.map((step: Record<string, string>) => JSON.stringify([step.kind, step.key, step.profile, step.gatewayUuid, step.user]));
    expect(new Set(identities).size).toBe(identities.length);

    // FreeSWITCH comes back between two attempts of the backlog job, after one that read all four events' steps.
    const job = await bridge.worker!.deps.queues.provisioning.getJob(freeswitchBacklogJobId({ serviceId, version: backlog.origin }));
    await waitFor(
      async () => (await backlogOf(serviceId)).failedVersion === backlog.version && (await job!.getState()) === 'delayed',
      15000,
      'a failed attempt of the whole backlog',
    );
    bridge.esl.clearRecorded();
    await bridge.esl.start();
    for (const eventId of [created, suspended, unsuspended, terminated]) {
      await waitFor(async () => (await inbox(eventId)).status === 'succeeded', 30000, `event ${eventId} succeeded once FreeSWITCH answers`);
    }
    expect(await backlogOf(serviceId)).toBeNull();
    const commands = bridge.esl.apiCommands;
    expect(commands).toEqual(expect.arrayContaining([`memcache delete directory:100@${domain}`, `memcache delete dialplan:${domain}`]));
    // One apply of the coalesced steps: no command sent twice for the four events.
    expect(commands.filter((command) => command === `memcache delete directory:100@${domain}`)).toHaveLength(1);
    const audit = await bridgeRows(`SELECT action, detail->>'freeswitch' AS freeswitch FROM audit_log WHERE service_id = $1 ORDER BY id`, [serviceId]);
    expect(audit).toEqual(['create', 'suspend', 'unsuspend', 'terminate'].map((action) => ({ action, freeswitch: 'applied' })));
  });

  it('re-adds the backlog job that Redis lost, and the backlog is applied once FreeSWITCH answers', async () => {
    const serviceId = 7102;
    const worker = await bridge.startWorker({ schedulers: false });
    await bridge.esl.stop();
    const created = await send(serviceId, 'create');
    await untilPendingApply(created);
    const backlog = await backlogOf(serviceId);
    const jobId = freeswitchBacklogJobId({ serviceId, version: backlog.origin });
    // Added before the event showed pending_apply (the next test holds the worker there to see it).
    expect(await worker.deps.queues.provisioning.getJob(jobId)).toBeDefined();
    // Redis loses the backlog job. Removable only between attempts (an active job is locked by its
    // worker): try until it is gone.
    await waitFor(
      async () => {
        const job = await worker.deps.queues.provisioning.getJob(jobId);
        if (!job) return true;
        expect(job.name).toBe(FREESWITCH_JOBS.backlog);
        return job.remove().then(
          () => true,
          () => false,
        );
      },
      15000,
      'the backlog job removed between attempts',
    );
    expect(await worker.deps.queues.provisioning.getJob(jobId)).toBeUndefined();

    await bridge.esl.start();
    const outcome = await reconcileInbox(worker.deps, null, 0);
    // The first test's terminated service is in step again; only this one is behind.
    expect(outcome.freeswitchBehind).toBe(1);
    expect(outcome.backlogsRequeued).toBe(1);
    await waitFor(async () => (await inbox(created)).status === 'succeeded', 20000, 'create succeeded after the reconciler');
    expect(await backlogOf(serviceId)).toBeNull();
    expect((await reconcileInbox(worker.deps, null, 0)).freeswitchBehind).toBe(0);
  });

  it('has the backlog job before the event shows pending_apply: the inline attempt adds it before noting the failure', async () => {
    const serviceId = 7106;
    const pool = bridge.api!.deps.pool;
    // The worker's update of the event to pending_apply waits (inside its transaction, before it
    // commits) for a lock this test holds: while it waits, the job must already be in the queue.
    const GATE = [990_052, serviceId] as const;
    await pool.query(`
      CREATE FUNCTION test_gate_pending_apply() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(${GATE[0]}, NEW.service_id::int);
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_gate_pending_apply BEFORE UPDATE ON webhook_inbox FOR EACH ROW
        WHEN (NEW.status = 'pending_apply' AND OLD.status IS DISTINCT FROM 'pending_apply' AND NEW.service_id = ${serviceId})
        EXECUTE FUNCTION test_gate_pending_apply()`);
    const gate = await pool.connect();
    let gateHeld = false;
    try {
      await gate.query('SELECT pg_advisory_lock($1, $2)', [...GATE]);
      gateHeld = true;
      const worker = await bridge.startWorker({ schedulers: false });
      await bridge.esl.stop();
      const created = await send(serviceId, 'create');
      await waitFor(
        async () =>
          (
            await bridgeRows(
              `SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2`,
              [...GATE],
            )
          ).length === 1,
        15000,
        'the worker marking the event pending_apply',
      );
      const backlog = await backlogOf(serviceId);
      const job = await worker.deps.queues.provisioning.getJob(freeswitchBacklogJobId({ serviceId, version: backlog.origin }));
      expect(job?.name).toBe(FREESWITCH_JOBS.backlog);
      expect((await inbox(created)).status).toBe('running');
      await gate.query('SELECT pg_advisory_unlock($1, $2)', [...GATE]);
      gateHeld = false;
      await untilPendingApply(created);
      await bridge.esl.start();
      await waitFor(async () => (await inbox(created)).status === 'succeeded', 30000, 'the create succeeded once FreeSWITCH answers');
    } finally {
      if (gateHeld) await gate.query('SELECT pg_advisory_unlock($1, $2)', [...GATE]);
      gate.release();
      await pool.query('DROP TRIGGER test_gate_pending_apply ON webhook_inbox; DROP FUNCTION test_gate_pending_apply()');
    }
  });

  it('a replayed job of an event waiting for FreeSWITCH does not converge FusionPBX again', async () => {
    const serviceId = 7103;
    const worker = await bridge.startWorker({ schedulers: false });
    await bridge.esl.stop();
    const created = await send(serviceId, 'create');
    await untilPendingApply(created);
    const [before] = await fusionRows(
      'SELECT count(*)::int AS n, max(coalesce(e.update_date, e.insert_date)) AS latest FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1',
      [`t${serviceId}.pbx.example.net`],
    );
    const [row] = await bridgeRows('SELECT job_id FROM webhook_inbox WHERE event_id = $1', [created]);
    const job = await worker.deps.queues.provisioning.getJob(row.job_id);
    // The event is pending_apply a moment before its job is marked completed (and unlocked).
    await waitFor(async () => (await job!.getState()) === 'completed', 10000, 'the create job completed');
    await job!.remove();
    await worker.deps.queues.provisioning.add('tenant.create', job!.data, { jobId: row.job_id });
    await waitFor(async () => (await worker.deps.queues.provisioning.getJob(row.job_id))?.finishedOn !== undefined, 10000, 'replayed job finished');
    const replay = await worker.deps.queues.provisioning.getJob(row.job_id);
    expect(replay!.returnvalue).toEqual([{ eventId: created, status: 'skipped', message: 'database side done; FreeSWITCH side pending' }]);
    const [after] = await fusionRows(
      'SELECT count(*)::int AS n, max(coalesce(e.update_date, e.insert_date)) AS latest FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1',
      [`t${serviceId}.pbx.example.net`],
    );
    expect(after).toEqual(before);
    expect((await inbox(created)).attempts).toBe(1);
    await bridge.esl.start();
    await waitFor(async () => (await inbox(created)).status === 'succeeded', 30000, 'create succeeded once FreeSWITCH answers');
  });

  it('shows where FreeSWITCH is behind: /readyz degraded (200), the drift report, the tenant view', async () => {
    const serviceId = 7104;
    const worker = await bridge.startWorker({ schedulers: false });
    await bridge.esl.stop();
    const created = await send(serviceId, 'create');
    await untilPendingApply(created);
    await waitFor(async () => (await backlogOf(serviceId)).lastError !== undefined, 10000, 'a failed apply noted');

    const ready = await fetch(`${bridge.url}/readyz`);
    expect(ready.status).toBe(200);
    const readyBody = (await ready.json()) as { status: string; checks: Record<string, { status: string }>; freeswitch: { behind: number; oldestSince: string } };
    expect(readyBody.status).toBe('degraded');
    expect(readyBody.checks.eventSocket!.status).toBe('down');
    expect(readyBody.freeswitch.behind).toBe(1);

    const report = await buildDriftReport(await driftSourcesOf(worker.deps));
    const behind = report.items.filter((item) => item.kind === 'freeswitch_behind');
    expect(behind).toEqual([expect.objectContaining({ serviceId, fixAction: null, expected: 'FreeSWITCH in step with FusionPBX' })]);
    expect(behind[0]!.actual).toMatch(/step\(s\) of 1 event\(s\) pending since .*; last error: event socket .* unreachable/);

    const tenant = await fetch(`${bridge.url}/v1/tenants/${serviceId}`, { headers: { authorization: `Bearer ${bridge.config.adminToken}` } });
    expect(tenant.status).toBe(200);
    const tenantBody = (await tenant.json()) as { observed: { freeswitch: { inStep: boolean; events: string[]; lastError: string } } };
    expect(tenantBody.observed.freeswitch).toMatchObject({ inStep: false, events: [created] });

    await bridge.esl.start();
    await waitFor(async () => (await inbox(created)).status === 'succeeded', 30000, 'create succeeded');
    const after = (await (await fetch(`${bridge.url}/readyz`)).json()) as { status: string; freeswitch: { behind: number } };
    expect(after).toMatchObject({ status: 'ready', freeswitch: { behind: 0 } });
    expect((await buildDriftReport(await driftSourcesOf(worker.deps))).counts.freeswitch_behind).toBe(0);
  });
});

describe('a backlog that keeps changing while it is sent', () => {
  it('never reports the event done while steps it did not send are still owed; the backlog job finishes it', async () => {
    const serviceId = 7105;
    const domain = `t${serviceId}.pbx.example.net`;
    const worker = await bridge.startWorker({ schedulers: false });
    const created = await send(serviceId, 'create');
    await waitFor(async () => (await inbox(created)).status === 'succeeded', 15000, 'create succeeded');

    // While FreeSWITCH answers, a REST write adds a step each time: every send is outrun by a newer version.
    let outrun = 0;
    bridge.esl.beforeAnswer = async (command) => {
      if (!command.startsWith('memcache delete')) return;
      outrun += 1;
      await addWriteSteps(worker.deps, serviceId, [{ kind: 'cache_delete', key: `directory:${200 + outrun}@${domain}` }]);
    };
    const suspended = await send(serviceId, 'suspend');
    await untilPendingApply(suspended);
    expect(outrun).toBeGreaterThanOrEqual(5);
    const owed = await backlogOf(serviceId);
    expect(owed.events.map((event: { eventId: string }) => event.eventId)).toEqual([suspended]);
    const [row] = await bridgeRows('SELECT last_error FROM webhook_inbox WHERE event_id = $1', [suspended]);
    expect(row.last_error).toMatch(/backlog changed during each of 5 sends/);

    bridge.esl.beforeAnswer = null;
    await waitFor(async () => (await inbox(suspended)).status === 'succeeded', 30000, 'suspend succeeded once the backlog settles');
    expect(await backlogOf(serviceId)).toBeNull();
    expect(await domainEnabled(domain)).toBe('false');
    const audit = await bridgeRows(`SELECT detail->>'freeswitch' AS freeswitch FROM audit_log WHERE service_id = $1 AND action = 'suspend'`, [serviceId]);
    expect(audit).toEqual([{ freeswitch: 'applied' }]);
  });
});
