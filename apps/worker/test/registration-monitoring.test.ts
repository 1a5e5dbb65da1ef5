import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TEST_WEBHOOK_SECRET } from '@ictvoip/testkit';
import { signBody } from '@ictvoip/whmcs';
import type { Job } from 'bullmq';
import { MONITORING_JOBS, registrationPollJobId, type TypedJob } from '@ictvoip/queue';
import { handleRegistrationPollAll, pollServerRegistrations } from '../src/jobs/monitoring/registrations-poll';
import { spawn } from 'node:child_process';
import { ROOT, runCli } from '../../cli/test/run-cli';
import { logRecords, startBridge, waitFor, type Bridge } from './harness';

/** A real FreeSWITCH 1.10 capture of `sofia xmlstatus profile internal reg` (one foreign-realm phone). */
const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SAMPLE_REALM = 'hornblower.tel';
const SAMPLE_BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(SAMPLE_REG)![0];

const A = 7101;
const B = 7102;
const ALERT_SIGNING_SECRET = 'alert-signing-secret-of-this-test';
const DOMAIN_A = 'mon-a.pbx.test';
const DOMAIN_B = 'mon-b.pbx.test';
const T0 = Date.parse('2026-03-02T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

interface Delivery {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { type: string; extension: string; domain: string; serviceId: number; at: string };
}

let bridge: Bridge;
let receiver: Server;
const deliveries: Delivery[] = [];
/** The receiver answers this many next requests with 503 (a receiver that is down for a while). */
let refuseNext = 0;
/** The phones the stand-in lists on profile internal, as [extension, domain]. */
let phones: [string, string][] = [];
/** Profile internal answers `Invalid Profile!` (not running) instead of the capture. */
let internalDown = false;
/** Counts the capture's expsecs down (a real switch's reply differs every poll in it). */
let expsecsGone = 0;

/** The capture with its own (foreign) phone kept, plus one re-homed block per phone. */
function capture(): string {
  if (internalDown) return 'Invalid Profile!';
  const blocks = phones.map(([extension, domain]) =>
    SAMPLE_BLOCK.replaceAll(SAMPLE_REALM, domain)
      .replace(/999/g, extension)
      .replace('203.0.113.228;', `192.168.1.${extension.slice(-2)};`),
  );
  return SAMPLE_REG.replace('</registrations>', `${blocks.join('\n')}\n  </registrations>`).replace(
    /expsecs\((\d+)\)/g,
    (_, seconds: string) => `expsecs(${Number(seconds) - expsecsGone})`,
  );
}

const poll = (seconds: number) => pollServerRegistrations(bridge.worker!.deps, 'default', at(seconds), bridge.worker!.metrics);

async function history(): Promise<{ id: string; extension: string; transition: string; missing_since: Date; alert_sent_at: Date | null; figures: Record<string, unknown> }[]> {
  return (await bridge.worker!.deps.pool.query('SELECT * FROM registration_history ORDER BY id')).rows;
}

async function state(extension: string): Promise<Record<string, unknown> | undefined> {
  return (await bridge.worker!.deps.pool.query('SELECT * FROM registrations WHERE domain = $1 AND extension = $2', [DOMAIN_A, extension])).rows[0];
}

/** Every queued alert delivered (or given up): the monitoring queue has nothing left to run. */
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

async function seedTenant(serviceId: number, domain: string, desiredState: string, extensions: string[]): Promise<void> {
  await bridge.worker!.deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES ($1, 1, $2, $3)`, [serviceId, domain, desiredState]);
  const domainUuid = randomUUID();
  await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, domain]);
  for (const extension of extensions) {
    await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, enabled) values ($1, $2, $3, 'true')`, [randomUUID(), domainUuid, extension]);
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (refuseNext > 0) {
        refuseNext -= 1;
        res.writeHead(503).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      deliveries.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  bridge = await startBridge({ REGISTRATION_LOST_AFTER_SECONDS: '180', ALERT_WEBHOOK_URL: url, ALERT_SIGNING_SECRET });
  await bridge.startWorker({ schedulers: false });
  await bridge.startApi();
  await seedTenant(A, DOMAIN_A, 'active', ['101', '102', '103']);
  await seedTenant(B, DOMAIN_B, 'suspended', ['201']);
  bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => capture());
}, 60000);

afterAll(async () => {
  await bridge?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('registration monitoring (real 1.10 capture through the event-socket stand-in)', () => {
  it('records the registrations of active tenants only, with contact, LAN address and user agent', async () => {
    phones = [
      ['101', DOMAIN_A],
      ['102', DOMAIN_A],
      ['103', DOMAIN_A],
      ['201', DOMAIN_B],
    ];
    const result = await poll(0);
    expect(result).toMatchObject({ watched: 3, registered: 3, transitions: [] });
    // profile external is enabled but the stand-in does not know it: its phones (none) are unobserved.
    expect(result.unavailableProfiles).toEqual(['external']);
    expect(bridge.esl.apiCommands.filter((command) => command.startsWith('sofia xmlstatus profile'))).toEqual([
      "sofia xmlstatus profile 'external' reg",
      "sofia xmlstatus profile 'internal' reg",
    ]);
    expect(await state('101')).toMatchObject({
      service_id: String(A),
      registered: true,
      lost: false,
      profile: 'internal',
      contact_ip: '203.0.113.228',
      contact_port: 5060,
      lan_ip: '192.168.1.01',
      user_agent: expect.stringContaining('Linphone-Desktop/5.0.17'),
      first_seen: at(0),
      missing_since: null,
    });
    const gauge = async (name: 'registrationsWatched' | 'registrationsRegistered') =>
      (await bridge.worker!.metrics[name].get()).values.find((value) => value.labels.service_id === String(A))?.value;
    expect([await gauge('registrationsWatched'), await gauge('registrationsRegistered')]).toEqual([3, 3]);
    const watchedB = await bridge.worker!.deps.pool.query('SELECT count(*)::int AS n FROM registrations WHERE service_id = $1', [B]);
    expect(watchedB.rows[0].n).toBe(0);
  });

  it('a phone missing for one poll and back within the grace period records nothing', async () => {
    phones = phones.filter(([extension]) => extension !== '101' && extension !== '102');
    await poll(60);
    expect(await state('101')).toMatchObject({ registered: false, lost: false, missing_since: at(60) });
    phones.push(['102', DOMAIN_A]);
    await poll(120);
    expect(await state('102')).toMatchObject({ registered: true, lost: false, missing_since: null });
    expect(await history()).toEqual([]);
  });

  it('a phone gone for the grace period (counted from the first poll that missed it) is lost once, with one signed alert', async () => {
    await poll(200); // 140 s since 101 was first missed
    expect(await history()).toEqual([]);
    const lost = await poll(240); // 180 s
    expect(lost.transitions.map((entry) => [entry.extension, entry.transition])).toEqual([['101', 'lost']]);
    await poll(300);
    const rows = await history();
    expect(rows.map((row) => [row.extension, row.transition])).toEqual([['101', 'lost']]);
    expect(rows[0]!.missing_since).toEqual(at(60));
    expect(rows[0]!.figures).toMatchObject({ contactIp: '203.0.113.228', lanIp: '192.168.1.01', profile: 'internal' });
    await waitFor(async () => (await history())[0]!.alert_sent_at, 15000, 'the lost alert');
    await alertsSettled();
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries;
    expect(delivery!.body).toMatchObject({ type: 'registration.lost', extension: '101', domain: DOMAIN_A, serviceId: A, at: at(240).toISOString() });
    const timestamp = delivery!.headers['x-ictvoip-timestamp'] as string;
    expect(delivery!.headers['x-ictvoip-signature']).toBe(signBody(ALERT_SIGNING_SECRET, timestamp, delivery!.raw));
    // Never with WHMCS's secret: a receiver could replay the alert on the bridge's signed routes.
    expect(signBody(TEST_WEBHOOK_SECRET, timestamp, delivery!.raw)).not.toBe(delivery!.headers['x-ictvoip-signature']);
  });

  it('an event socket that is down fails the poll loudly and marks nothing lost', async () => {
    phones = phones.filter(([extension]) => extension !== '103');
    await poll(320); // 103 first missed
    await bridge.esl.stop();
    const errorsBefore = (await bridge.worker!.metrics.registrationPollErrors.get()).values.find((value) => value.labels.server === 'default')?.value ?? 0;
    try {
      await expect(poll(600)).rejects.toThrow();
      const errorsAfter = (await bridge.worker!.metrics.registrationPollErrors.get()).values.find((value) => value.labels.server === 'default')?.value ?? 0;
      expect(errorsAfter).toBe(errorsBefore + 1);
      // One failed poll is a warning; the same poll failing again is an error.
      const failures = () => logRecords(bridge, (line) => String(line.msg).startsWith('registration poll failed'));
      expect(failures()).toEqual([expect.objectContaining({ level: 40, consecutiveFailures: 1 })]);
      await expect(poll(610)).rejects.toThrow();
      expect(failures()).toEqual([expect.objectContaining({ level: 40, consecutiveFailures: 1 }), expect.objectContaining({ level: 50, consecutiveFailures: 2 })]);
      expect(await state('103')).toMatchObject({ lost: false, missing_since: at(320) });
      expect((await history()).map((row) => row.extension)).toEqual(['101']);
    } finally {
      await bridge.esl.start();
    }
    phones.push(['103', DOMAIN_A]);
    // The client reconnects on its own; the first poll after the restart may still find it closed.
    await waitFor(
      () =>
        poll(620).then(
          () => true,
          () => false,
        ),
      15000,
      'a poll after the event socket is back',
    );
    expect(await state('103')).toMatchObject({ registered: true, lost: false, missing_since: null });
    expect((await history()).map((row) => row.extension)).toEqual(['101']);
  });

  it('no SIP profile answering fails the poll too, and nothing moves', async () => {
    internalDown = true;
    try {
      const before = (await bridge.worker!.deps.pool.query('SELECT extension, registered, lost, missing_since FROM registrations ORDER BY extension')).rows;
      await expect(poll(640)).rejects.toThrow(/no SIP profile answered/);
      expect((await bridge.worker!.deps.pool.query('SELECT extension, registered, lost, missing_since FROM registrations ORDER BY extension')).rows).toEqual(before);
      expect((await history()).map((row) => row.extension)).toEqual(['101']);
    } finally {
      internalDown = false;
    }
  });

  it('a lost phone that is back is restored once, with its alert', async () => {
    phones.push(['101', DOMAIN_A]);
    const restored = await poll(660);
    expect(restored.transitions.map((entry) => [entry.extension, entry.transition])).toEqual([['101', 'restored']]);
    await poll(720);
    expect((await history()).map((row) => [row.extension, row.transition])).toEqual([
      ['101', 'lost'],
      ['101', 'restored'],
    ]);
    await waitFor(async () => (await history()).every((row) => row.alert_sent_at), 15000, 'the restored alert');
    await alertsSettled();
    expect(deliveries.map((delivery) => delivery.body.type)).toEqual(['registration.lost', 'registration.restored']);
    expect(deliveries[1]!.body).toMatchObject({ extension: '101', serviceId: A, at: at(660).toISOString() });
  });

  it('the same poll run twice at once (and replayed) records one transition and sends one alert', async () => {
    phones = phones.filter(([extension]) => extension !== '102');
    await poll(780);
    const [first, second] = await Promise.all([poll(960), poll(960)]);
    expect([...first.transitions, ...second.transitions].map((entry) => [entry.extension, entry.transition])).toEqual([['102', 'lost']]);
    await poll(960);
    expect((await history()).filter((row) => row.extension === '102')).toHaveLength(1);
    await waitFor(async () => (await history()).every((row) => row.alert_sent_at), 15000, 'the alert of 102');
    await alertsSettled();
    expect(deliveries.map((delivery) => `${delivery.body.extension} ${delivery.body.type}`)).toEqual([
      '101 registration.lost',
      '101 registration.restored',
      '102 registration.lost',
    ]);
  });

  it('GET /v1/tenants/{tenant}/registrations/history pages the transitions newest first', async () => {
    const get = async (path: string) => {
      const response = await fetch(`${bridge.url}${path}`, { headers: { authorization: `Bearer ${bridge.config.adminToken}` } });
      return { status: response.status, body: (await response.json()) as { data: { type: string; extension: string; at: string }[]; nextCursor: string | null } };
    };
    const first = await get(`/v1/tenants/${A}/registrations/history?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.data.map((entry) => `${entry.extension} ${entry.type}`)).toEqual(['102 registration.lost', '101 registration.restored']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await get(`/v1/tenants/${DOMAIN_A}/registrations/history?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((entry) => `${entry.extension} ${entry.type}`)).toEqual(['101 registration.lost']);
    expect(second.body.data[0]!.at).toBe(at(240).toISOString());
    expect(second.body.nextCursor).toBeNull();
    expect((await get(`/v1/tenants/${B}/registrations/history`)).body.data).toEqual([]);
    expect((await get(`/v1/tenants/${A}/registrations/history?cursor=bm9wZQ`)).status).toBe(400);
    expect((await get('/v1/tenants/7199/registrations/history')).status).toBe(404);
    const openapi = (await (await fetch(`${bridge.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(openapi.paths['/v1/tenants/{tenant}/registrations/history']).toBeDefined();
  });

  it('ictvoip registrations history --service lists them too', async () => {
    const run = await runCli(bridge.env, ['registrations', 'history', '--service', String(A), '--limit', '2', '--json']);
    expect(run.code).toBe(0);
    const transitions = run.json.transitions as { extension: string; transition: string }[];
    expect(transitions.map((entry) => `${entry.extension} ${entry.transition}`)).toEqual(['102 lost', '101 restored']);
    const human = await runCli(bridge.env, ['registrations', 'history', '--service', String(A)]);
    expect(human.stdout.trim().split('\n')).toHaveLength(3);
    expect(human.stdout).toContain(`101@${DOMAIN_A}`);
    expect((await runCli(bridge.env, ['registrations', 'history', '--service', '7199'])).code).not.toBe(0);
  }, 60000);

  it('ictvoip registrations lost says when it cannot vouch for the list: a server not polled for three poll periods (or never) exits 3 naming it', async () => {
    const pool = bridge.api!.deps.pool;
    const [saved] = (await pool.query<{ polled_at: Date }>("SELECT polled_at FROM registration_servers WHERE server = 'default'")).rows;
    const setPolled = (at: string) => pool.query(`UPDATE registration_servers SET polled_at = ${at} WHERE server = 'default'`);
    try {
      await setPolled('now()');
      const fresh = await runCli(bridge.env, ['registrations', 'lost', '--service', String(B), '--json']);
      expect({ code: fresh.code, lost: fresh.json.lost, stale: fresh.json.stale }).toEqual({ code: 0, lost: [], stale: [] });
      await setPolled("now() - interval '1 day'");
      const blind = await runCli(bridge.env, ['registrations', 'lost', '--service', String(B)]);
      expect(blind.code).toBe(3);
      expect(blind.stdout).toContain('no extension is lost');
      expect(blind.stderr).toContain("server default's registrations were last polled at");
      // A lost extension is still the answer that counts: exit 2.
      expect((await runCli(bridge.env, ['registrations', 'lost', '--service', String(A)])).code).toBe(2);
    } finally {
      await pool.query("UPDATE registration_servers SET polled_at = $1 WHERE server = 'default'", [saved!.polled_at]);
    }
  }, 60000);

  it('an alert the receiver refuses is retried with backoff and delivered once', async () => {
    phones = phones.filter(([extension]) => extension !== '103');
    await poll(1000);
    refuseNext = 2;
    const lost = await poll(1180);
    expect(lost.transitions.map((entry) => [entry.extension, entry.transition])).toEqual([['103', 'lost']]);
    await waitFor(async () => (await history()).every((row) => row.alert_sent_at), 15000, 'the alert of 103 after two refusals');
    await alertsSettled();
    const row = (await history()).find((entry) => entry.extension === '103')!;
    expect((row as unknown as { alert_attempts: number }).alert_attempts).toBe(3);
    expect(deliveries.filter((delivery) => delivery.body.extension === '103').map((delivery) => delivery.body.type)).toEqual(['registration.lost']);
    expect(refuseNext).toBe(0);
  });

  it('the scheduled round polls every enabled server once per slot; a disabled server is not polled, and polling it fails loudly', async () => {
    await bridge.worker!.deps.fusionServers.add({
      name: 'pbx-off',
      databaseUrl: bridge.fusionDb.url,
      eslHost: '127.0.0.1',
      eslPort: bridge.esl.port,
      eslPassword: 'ClueCon',
      enabled: false,
    });
    const now = at(1300).toISOString();
    const round = { data: { now } } as unknown as TypedJob<typeof MONITORING_JOBS.pollAll>;
    expect(await handleRegistrationPollAll(bridge.worker!.deps, round)).toEqual({ enqueued: 1 });
    expect(await handleRegistrationPollAll(bridge.worker!.deps, round)).toEqual({ enqueued: 1 });
    const slot = `t${Math.floor(Date.parse(now) / (bridge.config.monitoring.pollSeconds * 1000))}`;
    const queue = bridge.worker!.deps.queues.monitoring;
    const job = (await waitFor(
      async () => {
        // State first, then the job: a job read while active and found completed after carries no return value yet.
        const id = registrationPollJobId('default', slot);
        return (await queue.getJobState(id)) === 'completed' ? ((await queue.getJob(id)) ?? null) : null;
      },
      15000,
      'the scheduled poll of the default server',
    )) as Job;
    expect(job.returnvalue).toMatchObject({ server: 'default', watched: 3, registered: 1, transitions: 0 });
    expect(await queue.getJob(registrationPollJobId('pbx-off', slot))).toBeUndefined();
    const polls = (await queue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed'])).filter((entry) => entry.name === MONITORING_JOBS.poll);
    expect(polls).toHaveLength(1);
    await expect(pollServerRegistrations(bridge.worker!.deps, 'pbx-off', at(1300), bridge.worker!.metrics)).rejects.toThrow(/disabled/);
    const errors = (await bridge.worker!.metrics.registrationPollErrors.get()).values.find((value) => value.labels.server === 'pbx-off')?.value;
    expect(errors).toBe(1);
  });

  it("a steady poll writes no row (the worker compares with its copy in memory); only the server's poll time moves", async () => {
    await poll(1400);
    const rows = async () => (await bridge.worker!.deps.pool.query('SELECT domain, extension, xmin::text AS version FROM registrations ORDER BY 1, 2')).rows;
    const before = await rows();
    const transitionsBefore = (await history()).length;
    expsecsGone = 60;
    const result = await poll(1460);
    expect(result).toMatchObject({ watched: 3, registered: 1, transitions: [] });
    expect(await rows()).toEqual(before);
    expect(await history()).toHaveLength(transitionsBefore);
    const server = await bridge.worker!.deps.pool.query(`SELECT polled_at FROM registration_servers WHERE server = 'default'`);
    expect(server.rows[0].polled_at).toEqual(at(1460));
  });

  it("another worker's poll makes this worker's copy stale: it reads the rows again instead of trusting it", async () => {
    // A second worker: the same databases, a memory of its own.
    const other = { ...bridge.worker!.deps };
    phones = phones.filter(([extension]) => extension !== '101');
    await pollServerRegistrations(other, 'default', at(1520));
    expect(await state('101')).toMatchObject({ registered: false, missing_since: at(1520), last_seen: at(1460) });
    phones.push(['101', DOMAIN_A]);
    // This worker's copy still says 101 is registered with these very figures.
    await poll(1580);
    expect(await state('101')).toMatchObject({ registered: true, missing_since: null });
    // An older poll arriving late applies nothing.
    phones = phones.filter(([extension]) => extension !== '101');
    expect((await poll(1560)).transitions).toEqual([]);
    expect(await state('101')).toMatchObject({ registered: true, missing_since: null });
  });

  it('ictvoip registrations history --follow prints each new transition as it is recorded, and ends on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'apps/cli/bin/ictvoip.js'), 'registrations', 'history', '--service', String(A), '--follow', '--limit', '1', '--interval', '200'],
      {
        cwd: ROOT,
        env: { ...process.env, ...bridge.env, LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      await waitFor(async () => stderr.includes('following service'), 45000, 'the follow to start');
      // The backlog: the newest transition so far (103 lost at 1180).
      expect(stdout.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`\tlost\t103@${DOMAIN_A}\t`))]);
      // 101 is not listed since 1560: missing at 1640, lost at 1820.
      await poll(1640);
      expect((await poll(1820)).transitions.map((entry) => `${entry.extension} ${entry.transition}`)).toEqual(['101 lost']);
      await waitFor(async () => stdout.includes(`lost\t101@${DOMAIN_A}`), 15000, 'the new transition printed');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stdout.trim().split('\n')).toHaveLength(2);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60000);
});
