import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import ts from 'typescript';
import { createProvisioner } from '@ictvoip/fusionpbx';
import { createWorkerConnection, eventJobId, PROVISIONING_JOBS } from '@ictvoip/queue';
import { sealSecrets } from '@ictvoip/store';
import { parseWebhookEvent, redactEvent } from '@ictvoip/whmcs';
import { buildEvent, deleteRedisPrefix, postWebhook, TEST_REDIS_URL } from '@ictvoip/testkit';
import { reconcileInbox, startWorker, workerProcessName } from '../src';
import { provisionerOptionsFrom } from '../src/provisioning-options';
import { closeWorkerWithin, ShutdownBudget } from '../src/shutdown';
import { startBridge, waitFor, type Bridge } from './harness';

let bridge: Bridge;

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
});
afterAll(async () => {
  await bridge.close();
});

const bridgeRows = async (sql: string, params: unknown[] = []) => (await bridge.api!.deps.pool.query(sql, params)).rows;
const fusionRows = async (sql: string, params: unknown[] = []) => (await bridge.fusion.query(sql, params)).rows;
const inboxStatus = async (eventId: unknown) => (await bridgeRows('SELECT status, attempts FROM webhook_inbox WHERE event_id = $1', [eventId]))[0];

describe('the event socket down, then up', () => {
  afterEach(async () => {
    await bridge.worker?.close();
    bridge.worker = null;
  });

  it('keeps the committed FusionPBX work, shows pending apply, and applies once FreeSWITCH is back', async () => {
    await bridge.startWorker({ schedulers: false });
    const serviceId = 5101;
    const body = buildEvent({ serviceId });
    await bridge.esl.stop();
    const reply = await postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=3' });
    expect(reply.status).toBe(202);
    await waitFor(async () => (await inboxStatus(body.eventId)).status === 'pending_apply', 10000, 'pending_apply');
    const domain = `t${serviceId}.pbx.example.net`;
    const [{ n: extensionsBefore }] = await fusionRows('SELECT count(*)::int AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain]);
    expect(extensionsBefore).toBe(3);
    const [service] = await bridgeRows('SELECT pending_apply FROM services WHERE service_id = $1', [serviceId]);
    expect(service.pending_apply.events.map((event: { eventId: string }) => event.eventId)).toEqual([body.eventId]);
    expect(service.pending_apply.steps.length).toBeGreaterThan(0);
    bridge.esl.clearRecorded();
    await bridge.esl.start();
    await waitFor(async () => (await inboxStatus(body.eventId)).status === 'succeeded', 20000, 'success after ESL returns');
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:100@${domain}`]));
    const [{ n: extensionsAfter }] = await fusionRows('SELECT count(*)::int AS n FROM v_extensions e JOIN v_domains d USING (domain_uuid) WHERE d.domain_name = $1', [domain]);
    expect(extensionsAfter).toBe(3);
    const [after] = await bridgeRows('SELECT pending_apply FROM services WHERE service_id = $1', [serviceId]);
    expect(after.pending_apply).toBeNull();
  });

  it('recovers when the process died after the FusionPBX commit but before the bridge recorded it', async () => {
    const serviceId = 5102;
    const body = buildEvent({ serviceId });
    // The "crashed" attempt: FusionPBX converged, nothing recorded in the bridge, nothing sent to FreeSWITCH.
    await createProvisioner({ pool: bridge.fusion, options: provisionerOptionsFrom(bridge.config) }).create(body as never);
    bridge.esl.clearRecorded();
    await bridge.startWorker({ schedulers: false });
    const reply = await postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
    expect(reply.body.result).toBe('success');
    const domain = `t${serviceId}.pbx.example.net`;
    expect(bridge.esl.apiCommands).toEqual(expect.arrayContaining([`memcache delete directory:100@${domain}`, `memcache delete dialplan:${domain}`]));
    expect(await fusionRows('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).toEqual([{ n: 1 }]);
  });
});

describe('Redis loses its data', () => {
  afterEach(async () => {
    await bridge.worker?.close();
    bridge.worker = null;
  });

  it('the reconciler re-enqueues an accepted event and it runs exactly once', async () => {
    const body = buildEvent({ serviceId: 5201 });
    const reply = await postWebhook(bridge.url, JSON.stringify(body));
    expect(reply.status).toBe(202);
    await deleteRedisPrefix(bridge.prefix); // what FLUSHALL does to this bridge's keys
    expect(await bridge.api!.deps.queues.provisioning.getJob(String(reply.body.jobId))).toBeUndefined();
    const worker = await bridge.startWorker({ schedulers: false });
    const outcome = await reconcileInbox(worker.deps, null, 0);
    expect(outcome.requeued).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await inboxStatus(body.eventId)).status === 'succeeded', 20000, 'reconciled event');
    expect(await inboxStatus(body.eventId)).toEqual({ status: 'succeeded', attempts: 1 });
    expect(await bridgeRows('SELECT count(*)::int AS n FROM audit_log WHERE event_id = $1', [body.eventId])).toEqual([{ n: 1 }]);
    // The job names the process that ran it (what the chaos suite uses to kill the owner of work in flight).
    // The inbox row succeeds inside the job, a moment before BullMQ moves the job to completed.
    const requeuedJob = await waitFor(async () => (await worker.deps.queues.provisioning.getJobs(['completed']))[0], 10000, 'the re-enqueued job completed');
    expect(requeuedJob.processedBy).toBe(workerProcessName());
    const again = await reconcileInbox(worker.deps, null, 0);
    expect(again.requeued).toBe(0);
  });

  it('the reconciler enqueues an event committed as queued whose job was never added (a crash in between)', async () => {
    const body = buildEvent({ serviceId: 5203 });
    const event = parseWebhookEvent(body);
    const jobId = eventJobId(event.service.id, event.action, event.eventId);
    // What the API commits before it adds the job; the process "dies" before the add.
    await bridge.api!.deps.inbox.record({
      eventId: event.eventId,
      bodyHash: 'crash-before-add',
      action: event.action,
      serviceId: event.service.id,
      clientId: event.client.id,
      payload: redactEvent(event) as unknown as Record<string, unknown>,
      sealedSecrets: sealSecrets({ servicePassword: event.secrets!.servicePassword! }, bridge.config.sealing),
      jobId,
      status: 'queued',
    });
    expect(await bridge.api!.deps.queues.provisioning.getJob(jobId)).toBeUndefined();
    const worker = await bridge.startWorker({ schedulers: false });
    const outcome = await reconcileInbox(worker.deps, null, 0);
    expect(outcome.requeued).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await inboxStatus(event.eventId)).status === 'succeeded', 20000, 'reconciled event');
    expect(await inboxStatus(event.eventId)).toEqual({ status: 'succeeded', attempts: 1 });
    expect((await reconcileInbox(worker.deps, null, 0)).requeued).toBe(0);
  });

  it('the reconciler skips an unfinished row whose action no job serves and still re-enqueues the others', async () => {
    const body = buildEvent({ serviceId: 5204 });
    const event = parseWebhookEvent(body);
    const jobId = eventJobId(event.service.id, event.action, event.eventId);
    const record = (eventId: string, action: string, serviceId: number, bodyHash: string) =>
      bridge.api!.deps.inbox.record({
        eventId,
        bodyHash,
        action,
        serviceId,
        clientId: event.client.id,
        payload: redactEvent(event) as unknown as Record<string, unknown>,
        sealedSecrets: sealSecrets({ servicePassword: event.secrets!.servicePassword! }, bridge.config.sealing),
        jobId: eventJobId(serviceId, action, eventId),
        status: 'queued',
      });
    // A row written by hand or by a future version: its action is only a string in PostgreSQL (another
    // service, so the served event does not wait behind it).
    const unserved = parseWebhookEvent(buildEvent({ serviceId: 5205 })).eventId;
    await record(unserved, 'status', 5205, 'unserved-action');
    await record(event.eventId, event.action, event.service.id, 'served-action');
    const worker = await bridge.startWorker({ schedulers: false });
    const outcome = await reconcileInbox(worker.deps, null, 0);
    expect(outcome.requeued).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await inboxStatus(event.eventId)).status === 'succeeded', 20000, 'reconciled event');
    expect(await worker.deps.queues.provisioning.getJob(jobId)).toBeDefined();
    expect((await inboxStatus(unserved)).status).toBe('queued');
    await bridgeRows("UPDATE webhook_inbox SET status = 'failed' WHERE event_id = $1", [unserved]);
  });

  it('the job scheduler itself comes back after a flush and re-enqueues on its own', async () => {
    const body = buildEvent({ serviceId: 5202 });
    const reply = await postWebhook(bridge.url, JSON.stringify(body));
    expect(reply.status).toBe(202);
    await deleteRedisPrefix(bridge.prefix);
    await bridge.startWorker();
    // A second flush after start-up removes the scheduler the worker just created.
    await deleteRedisPrefix(bridge.prefix);
    await waitFor(async () => (await inboxStatus(body.eventId)).status === 'succeeded', 20000, 'scheduler-driven reconcile');
    expect(await inboxStatus(body.eventId)).toEqual({ status: 'succeeded', attempts: 1 });
    const schedulers = await bridge.worker!.deps.queues.maintenance.getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toContain('reconcile-inbox');
  });
});

describe('start-up and shutdown', () => {
  // Was a start-up check that refused a provisioning job without its handler, or with two; it is the
  // compiler's now. The fixture's @ts-expect-error lines are checked by `npm run check-types`; here
  // the fixture is compiled without them, so each refusal must be the error it is meant to be.
  it('a provisioning job without a handler, with two, or bound to another job does not compile', () => {
    const fixture = path.join(__dirname, 'fixtures', 'provisioning-handlers.ts');
    const asChecked = compileFixture(fixture, (text) => text);
    expect(asChecked.errors.map((d) => d.text)).toEqual([]);
    const withoutDirectives = compileFixture(fixture, (text) => text.replace(/^\s*\/\/ @ts-expect-error.*$/gm, ''), asChecked.program).errors;
    const errorAt = (marker: string) => withoutDirectives.filter((d) => d.line === lineAfter(fixture, marker)).map((d) => d.text);
    expect(errorAt('no handler for tenant.suspend')).toEqual([expect.stringMatching(/Property 'suspend' is missing/)]);
    expect(errorAt('two handlers for tenant.create')).toEqual([expect.stringMatching(/multiple properties with the same name/)]);
    expect(errorAt('no job status')).toEqual([expect.stringMatching(/'status' does not exist in type/)]);
    expect(errorAt('tenant.create bound to suspend')).toEqual([expect.stringMatching(/"tenant.suspend"/)]);
    expect(withoutDirectives).toHaveLength(4);
  }, 180_000);

  it('force-closes a worker whose job outlives the shutdown deadline', async () => {
    const prefix = `${bridge.prefix}-slow`;
    const connection = createWorkerConnection(TEST_REDIS_URL);
    const queue = new Queue('slow', { connection, prefix });
    const { Worker } = await import('bullmq');
    let started = false;
    let release: () => void = () => undefined;
    const workerConnection = createWorkerConnection(TEST_REDIS_URL);
    const worker = new Worker(
      'slow',
      async () => {
        started = true;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      { connection: workerConnection, prefix },
    );
    await queue.add('x', {});
    await waitFor(async () => started, 5000, 'job start');
    const began = Date.now();
    expect(await closeWorkerWithin(worker, 500, new ShutdownBudget(1000))).toBe('forced');
    expect(Date.now() - began).toBeLessThan(3000);
    release();
    await queue.close();
    connection.disconnect();
    workerConnection.disconnect();
    await deleteRedisPrefix(prefix);
  });

  it('closes gracefully when jobs finish within the deadline', async () => {
    const prefix = `${bridge.prefix}-quick`;
    const connection = createWorkerConnection(TEST_REDIS_URL);
    const queue = new Queue('quick', { connection, prefix });
    const { Worker } = await import('bullmq');
    let started = false;
    let finished = false;
    let release!: () => void;
    // The job holds until the test lets it go: the close must have begun while it was in flight.
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const workerConnection = createWorkerConnection(TEST_REDIS_URL);
    const worker = new Worker(
      'quick',
      async () => {
        started = true;
        await gate;
        finished = true;
      },
      { connection: workerConnection, prefix },
    );
    await queue.add('x', {});
    await waitFor(async () => started, 5000, 'job start');
    const closing = new Promise((resolve) => worker.once('closing', resolve));
    const closed = closeWorkerWithin(worker, 5000, new ShutdownBudget(6000));
    await closing;
    expect(finished).toBe(false);
    release();
    expect(await closed).toBe('graceful');
    expect(finished).toBe(true);
    await queue.close();
    connection.disconnect();
    workerConnection.disconnect();
    await deleteRedisPrefix(prefix);
  });
});

describe('a whole worker closing under a slow event socket', () => {
  it('returns from close() within SHUTDOWN_DEADLINE_MS while a job is stuck, and a later worker finishes the event', async () => {
    const deadlineMs = 1500;
    const fast = { ...bridge.config.worker, lockDurationMs: 1500 };
    bridge.esl.replyDelayMs = 700;
    const stuck = await startWorker({ ...bridge.config, worker: { ...fast, shutdownDeadlineMs: deadlineMs } }, bridge.logger, { schedulers: false });
    let replacement: Awaited<ReturnType<typeof startWorker>> | null = null;
    try {
      const body = buildEvent({ serviceId: 5401 });
      expect((await postWebhook(bridge.url, JSON.stringify(body))).status).toBe(202);
      // The create's inline FreeSWITCH attempt is bounded; the service's backlog job is what a slow event socket holds.
      await waitFor(async () => (await stuck.deps.queues.provisioning.getActive()).some((job) => job.name === 'freeswitch.backlog'), 10000, 'the backlog job running');
      const began = Date.now();
      await stuck.close();
      // The deadline covers the jobs and the closing of queues, event socket and pools; the margin is timer slack.
      expect(Date.now() - began).toBeLessThan(deadlineMs + 500);
      expect(bridge.logLines.filter((line) => line.includes('"msg":"workers closed"') && line.includes('forced'))).toHaveLength(1);

      bridge.esl.replyDelayMs = 0;
      replacement = await startWorker({ ...bridge.config, worker: fast }, bridge.logger, { schedulers: false });
      await waitFor(async () => (await inboxStatus(body.eventId))?.status === 'succeeded', 20000, 'the event applied by the next worker');
      expect(await fusionRows('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', ['t5401.pbx.example.net'])).toEqual([{ n: 1 }]);
    } finally {
      bridge.esl.replyDelayMs = 0;
      await replacement?.close();
    }
  }, 60000);
});

describe('replaying a finished job', () => {
  it('changes nothing in FusionPBX or the bridge', async () => {
    const worker = await bridge.startWorker({ schedulers: false });
    try {
      const body = buildEvent({ serviceId: 5301 });
      const reply = await postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
      expect(reply.body.result).toBe('success');
      const snapshot = await fusionRows('SELECT count(*)::int AS n, max(coalesce(update_date, insert_date)) AS latest FROM v_extensions');
      const job = await worker.deps.queues.provisioning.getJob(String(reply.body.jobId ?? `svc-5301-create-${body.eventId}`));
      // The answer comes on the commit that finishes the event, a moment before its job is marked completed (and unlocked).
      await waitFor(async () => (await job!.getState()) === 'completed', 10000, 'the create job completed');
      await job!.remove();
      const replay = await worker.deps.queues.provisioning.add(
        PROVISIONING_JOBS.create,
        { eventId: body.eventId, serviceId: 5301, action: 'create' },
        { jobId: `svc-5301-create-${body.eventId}` },
      );
      await waitFor(async () => (await Job.fromId(worker.deps.queues.provisioning, replay.id!))?.finishedOn, 10000, 'replay finished');
      expect(await fusionRows('SELECT count(*)::int AS n, max(coalesce(update_date, insert_date)) AS latest FROM v_extensions')).toEqual(snapshot);
      expect(await bridgeRows('SELECT count(*)::int AS n FROM audit_log WHERE event_id = $1', [body.eventId])).toEqual([{ n: 1 }]);
    } finally {
      await worker.close();
      bridge.worker = null;
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function spawnApi(port: number): Promise<ChildProcess> {
  const root = path.resolve(__dirname, '../../..');
  // Compiled when CI has built it (ICTVOIP_FROM_SOURCE=0): tsx compiling the API's sources doubled each start's CPU.
  const entry = process.env.ICTVOIP_FROM_SOURCE === '1' ? ['--import', 'tsx', 'apps/api/src/main.ts'] : ['apps/api/dist/main.js'];
  const child = spawn(process.execPath, entry, {
    cwd: root,
    env: { ...process.env, ...bridge.env, PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // A cold tsx cache (sources) on a loaded 2-core CI machine can take tens of seconds to compile the API.
  const healthy = async (): Promise<boolean> => {
    const reply = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    await reply?.body?.cancel();
    return reply?.ok ?? false;
  };
  await waitFor(healthy, 60000, 'api process').catch((error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${error.message}; its stderr: ${stderr.slice(-2000)}`);
  });
  return child;
}

describe('two API processes', () => {
  it('receiving the same event at the same moment keep one inbox row and one job', async () => {
    const ports = [await freePort(), await freePort()];
    const children = await Promise.all(ports.map(spawnApi));
    try {
      const body = JSON.stringify(buildEvent({ serviceId: 5401 }));
      const replies = await Promise.all(ports.flatMap((port) => [1, 2, 3].map(() => postWebhook(`http://127.0.0.1:${port}`, body))));
      expect(replies.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202]);
      const eventId = JSON.parse(body).eventId;
      expect(await bridgeRows('SELECT count(*)::int AS n FROM webhook_inbox WHERE event_id = $1', [eventId])).toEqual([{ n: 1 }]);
      const jobs = await bridge.api!.deps.queues.provisioning.getJobs(['waiting', 'active', 'delayed', 'completed']);
      expect(jobs.filter((j) => j.data.eventId === eventId)).toHaveLength(1);
    } finally {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))));
    }
  }, 150000);
});

interface FixtureError {
  line: number;
  text: string;
}

/** Type-checks one file with the worker's compiler options, its text rewritten by `edit` first (the other files reused from `previous`). */
function compileFixture(file: string, edit: (text: string) => string, previous?: ts.Program): { program: ts.Program; errors: FixtureError[] } {
  const configFile = ts.readConfigFile(path.join(__dirname, '..', 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, path.join(__dirname, '..'));
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? edit(readFileSync(file, 'utf8')) : readFile(name));
  const program = ts.createProgram([file], options, host, previous);
  const source = program.getSourceFile(file)!;
  // Only the fixture's own errors: the sources it imports are checked by check-types.
  const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
  const errors = diagnostics.map((d) => ({ line: source.getLineAndCharacterOfPosition(d.start ?? 0).line, text: ts.flattenDiagnosticMessageText(d.messageText, '\n') }));
  return { program, errors };
}

/** The 0-based line after the `@ts-expect-error` comment naming `marker`: where its error is reported. */
function lineAfter(file: string, marker: string): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const at = lines.findIndex((line) => line.includes(`@ts-expect-error ${marker}`));
  if (at < 0) throw new Error(`no @ts-expect-error ${marker} in ${file}`);
  return at + 1;
}
