/**
 * Monitoring alerts exactly once, through WHMCS e-mail (the includes/api.php stand-in) and the signed
 * webhook, with the faults the issue names: WHMCS failing, a worker killed before the alert or between
 * the send and its mark, two workers at once, WHMCS timing out after sending. Also the watch scope, a
 * flapping phone and an event socket dropping mid-poll (no false "lost").
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import { MONITORING_JOBS, registrationAlertJobId, type TypedJob } from '@ictvoip/queue';
import { startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { AlertInFlightError, deliverRegistrationAlert } from '../src/jobs/monitoring/registration-alert';
import { handleRegistrationPollAll, pollServerRegistrations } from '../src/jobs/monitoring/registrations-poll';
import { runCli } from '../../cli/test/run-cli';
import { startBridge, waitFor, type Bridge } from './harness';

const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SAMPLE_REALM = 'hornblower.tel';
const SAMPLE_BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(SAMPLE_REG)![0];

const A = 7301;
const MARKED = 7302;
const DOMAIN_A = 'alerts-a.pbx.test';
const DOMAIN_M = 'alerts-m.pbx.test';
const CLIENT = 77;
const T0 = Date.parse('2026-04-01T08:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const TEMPLATES = { lost: 'Phone Registration Lost', restored: 'Phone Registration Restored' };

interface Delivery {
  headers: IncomingHttpHeaders;
  body: { type: string; extension: string };
}

let bridge: Bridge;
let whmcs: WhmcsStandin;
let receiver: Server;
/** Every request the webhook receiver got, repeats included. */
const requests: Delivery[] = [];
/** The receiver's view after dropping repeats by Idempotency-Key, as the README asks receivers to do. */
const accepted = new Map<string, Delivery>();
let phones: [string, string][] = [];

function capture(): string {
  const blocks = phones.map(([extension, domain]) =>
    SAMPLE_BLOCK.replaceAll(SAMPLE_REALM, domain)
      .replace(/999/g, extension)
      .replace('203.0.113.228;', `192.168.1.${extension.slice(-2)};`),
  );
  return SAMPLE_REG.replace('</registrations>', `${blocks.join('\n')}\n  </registrations>`);
}

const deps = () => bridge.worker!.deps;
const poll = (seconds: number) => pollServerRegistrations(deps(), 'default', at(seconds), bridge.worker!.metrics);
const monitoringWorker = () => bridge.worker!.workers.find((worker: Worker) => worker.name === 'monitoring')!;

async function historyOf(extension: string): Promise<{ id: string; transition: string; alert_sent_at: Date | null }[]> {
  return (await deps().pool.query('SELECT id, transition, alert_sent_at FROM registration_history WHERE extension = $1 AND domain = $2 ORDER BY id', [extension, DOMAIN_A])).rows;
}

async function deliveriesOf(historyId: string): Promise<{ id: string; channel: string; state: string; attempts: number; last_error: string | null }[]> {
  return (await deps().pool.query("SELECT * FROM monitoring_alert_deliveries WHERE kind = 'registration' AND history_id = $1 ORDER BY channel", [historyId])).rows;
}

const emailsFor = (extension: string) => whmcs.state.emails.filter((email) => email.customvars.extension === extension);
const webhooksFor = (extension: string) => requests.filter((request) => request.body.extension === extension);

async function settled(extension: string, count: number): Promise<void> {
  await waitFor(
    async () => {
      const rows = await historyOf(extension);
      return rows.length === count && rows.every((row) => row.alert_sent_at);
    },
    20000,
    `the alerts of ${extension} settled`,
  );
}

/** Phone `extension` registered, then gone for the grace period: one `lost` transition. */
async function loseAt(extension: string, start: number): Promise<void> {
  phones = phones.filter(([number]) => number !== extension);
  await poll(start);
  const result = await poll(start + 180);
  expect(result.transitions.map((entry) => `${entry.extension} ${entry.transition}`)).toEqual([`${extension} lost`]);
}

/** From here on no worker delivers by itself: each delivery is one worker's run, called directly (closing twice is a no-op). */
const stopMonitoringWorker = () => monitoringWorker().close();

/** `extension` lost at `start` + grace (unless an earlier test lost it already), its alert delivered by a direct run. */
async function lostAndDelivered(extension: string, start: number): Promise<void> {
  await stopMonitoringWorker();
  if ((await historyOf(extension)).length > 0) return;
  await loseAt(extension, start);
  const [row] = await historyOf(extension);
  expect(await deliverRegistrationAlert(deps(), Number(row!.id))).toEqual({ sent: 2, settled: true });
  await settled(extension, 1);
}

/** `extensions` lost (those an earlier test did not lose already): gone from `start`, lost at `start` + grace. */
async function loseAll(extensions: string[], start: number): Promise<void> {
  const left: string[] = [];
  for (const extension of extensions) if ((await historyOf(extension)).at(-1)?.transition !== 'lost') left.push(extension);
  if (left.length === 0) return;
  phones = phones.filter(([number]) => !left.includes(number));
  await poll(start);
  expect((await poll(start + 180)).transitions.map((entry) => entry.extension).sort()).toEqual(left);
}

/** 101 lost at 08:04 and restored at 08:05 (the first test's transitions), unless that test made them. */
async function lostAndRestored101(): Promise<void> {
  if ((await historyOf('101')).length > 0) return;
  await loseAt('101', 60);
  phones.push(['101', DOMAIN_A]);
  expect((await poll(300)).transitions.map((entry) => entry.transition)).toEqual(['restored']);
}

async function seedTenant(serviceId: number, domain: string, extensions: string[], plan: Record<string, unknown> = {}): Promise<void> {
  await deps().pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan) VALUES ($1, $2, $3, 'active', $4)`, [serviceId, CLIENT, domain, plan]);
  // The latest module event gives the e-mail its client name and device model.
  const payload = { client: { id: CLIENT, companyName: 'Acme Dental' }, service: { id: serviceId, domain }, customFields: { devicemodel: 'Yealink T54W' } };
  await deps().pool.query(`INSERT INTO webhook_inbox (event_id, body_hash, action, service_id, client_id, payload, status) VALUES ($1, 'x', 'create', $2, $3, $4, 'succeeded')`, [
    randomUUID(),
    serviceId,
    CLIENT,
    payload,
  ]);
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
      const delivery = { headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
      requests.push(delivery);
      const key = String(req.headers['idempotency-key']);
      if (!accepted.has(key)) accepted.set(key, delivery);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  whmcs = await startWhmcsStandin({
    emailTemplates: [
      { name: TEMPLATES.lost, type: 'product' },
      { name: TEMPLATES.restored, type: 'product' },
    ],
  });
  whmcs.addClient({ id: CLIENT });
  for (const id of [A, MARKED]) whmcs.addService({ id, clientid: CLIENT });
  bridge = await startBridge({
    REGISTRATION_LOST_AFTER_SECONDS: '180',
    ALERT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`,
    ALERT_EMAIL_TEMPLATE_LOST: TEMPLATES.lost,
    ALERT_EMAIL_TEMPLATE_RESTORED: TEMPLATES.restored,
    WHMCS_API_URL: whmcs.url,
    WHMCS_API_IDENTIFIER: whmcs.identifier,
    WHMCS_API_SECRET: whmcs.secret,
    WHMCS_API_TIMEOUT_MS: '1000',
  });
  await bridge.startWorker({ schedulers: false });
  await bridge.startApi();
  await seedTenant(A, DOMAIN_A, ['101', '102', '103', '104', '105', '106', '107', '108']);
  await seedTenant(MARKED, DOMAIN_M, ['201', '202'], { registrationWatch: 'marked' });
  bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => capture());
  phones = ['101', '102', '103', '104', '105', '106', '107', '108'].map((extension) => [extension, DOMAIN_A]);
  phones.push(['201', DOMAIN_M], ['202', DOMAIN_M]);
  await poll(0);
}, 60000);

afterAll(async () => {
  await bridge?.close();
  await whmcs?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('monitoring alerts: WHMCS e-mail and webhook, exactly once', () => {
  it('a phone lost and restored sends one WHMCS e-mail each, with the ictsipreg merge fields, and one signed webhook each', async () => {
    await loseAt('101', 60);
    await settled('101', 1);
    expect(emailsFor('101')).toEqual([
      {
        messagename: TEMPLATES.lost,
        type: 'product',
        id: A,
        clientid: CLIENT,
        customvars: expect.objectContaining({
          alert_type: 'registration.lost',
          extension: '101',
          tenant_domain: DOMAIN_A,
          extension_address: `101@${DOMAIN_A}`,
          client_id: String(CLIENT),
          client_name: 'Acme Dental',
          service_id: String(A),
          device_model: 'Yealink T54W',
          date_time: '2026-04-01 08:04:00 UTC',
        }),
      },
    ]);
    phones.push(['101', DOMAIN_A]);
    expect((await poll(300)).transitions.map((entry) => entry.transition)).toEqual(['restored']);
    await settled('101', 2);
    expect(emailsFor('101').map((email) => email.messagename)).toEqual([TEMPLATES.lost, TEMPLATES.restored]);
    expect(webhooksFor('101').map((request) => request.body.type)).toEqual(['registration.lost', 'registration.restored']);
    const [lost] = await historyOf('101');
    expect(webhooksFor('101')[0]!.headers['idempotency-key']).toBe(`registration-alert-${lost!.id}`);
    expect((await deliveriesOf(lost!.id)).map((row) => [row.channel, row.state])).toEqual([
      ['email', 'sent'],
      ['webhook', 'sent'],
    ]);
  });

  it('WHMCS refusing (result: error, e.g. its mailer failing): the e-mail is retried until WHMCS accepts it, then sent once (the webhook is not repeated)', async () => {
    whmcs.setFaults([{ mode: 'result_error', percent: 100, actions: ['SendEmail'] }]);
    try {
      await loseAt('102', 400);
      const [lost] = await waitFor(async () => {
        const rows = await historyOf('102');
        const deliveries = rows[0] ? await deliveriesOf(rows[0].id) : [];
        // Two refusals done: the row is back to pending after its second claim.
        return deliveries.find((row) => row.channel === 'email' && row.attempts >= 2 && row.state === 'pending') ? rows : null;
      });
      expect(lost!.alert_sent_at).toBeNull();
      expect(emailsFor('102')).toHaveLength(0);
    } finally {
      whmcs.setFaults([]);
    }
    await settled('102', 1);
    expect(emailsFor('102')).toHaveLength(1);
    expect(webhooksFor('102')).toHaveLength(1);
    const [row] = await historyOf('102');
    const email = (await deliveriesOf(row!.id)).find((delivery) => delivery.channel === 'email')!;
    expect(email.state).toBe('sent');
    expect(email.attempts).toBeGreaterThanOrEqual(3);
  });

  it('a worker killed between the transition and its alert (the job lost with it): the next round queues it again, and it is sent once', async () => {
    await stopMonitoringWorker();
    await loseAt('103', 700);
    const [row] = await historyOf('103');
    const jobId = registrationAlertJobId(Number(row!.id));
    await (await deps().queues.monitoring.getJob(jobId))!.remove();
    const round = { data: { now: at(900).toISOString() } } as unknown as TypedJob<typeof MONITORING_JOBS.pollAll>;
    await handleRegistrationPollAll(deps(), round);
    const requeued = await deps().queues.monitoring.getJob(jobId);
    expect(requeued?.data).toEqual({ historyId: Number(row!.id) });
    expect(emailsFor('103')).toHaveLength(0);
    expect(await deliverRegistrationAlert(deps(), Number(row!.id))).toEqual({ sent: 2, settled: true });
    await settled('103', 1);
    expect(emailsFor('103')).toHaveLength(1);
    expect(webhooksFor('103')).toHaveLength(1);
  });

  it('a worker killed between the send and its mark: the webhook is sent again under the same Idempotency-Key, the e-mail is never sent twice', async () => {
    // 103 as the test above leaves it: lost, its alert sent once by a direct run.
    await lostAndDelivered('103', 700);
    const [row] = await historyOf('103');
    // What a worker killed right after both sends leaves: rows claimed long ago, never marked.
    await deps().pool.query(`UPDATE monitoring_alert_deliveries SET state = 'sending', claimed_at = now() - interval '1 hour' WHERE kind = 'registration' AND history_id = $1`, [
      row!.id,
    ]);
    await deps().pool.query('UPDATE registration_history SET alert_sent_at = NULL WHERE id = $1', [row!.id]);
    const unknownBefore = (await bridge.worker!.metrics.registrationAlerts.get()).values.find((value) => value.labels.outcome === 'unknown')?.value ?? 0;
    const result = await deliverRegistrationAlert(deps(), Number(row!.id), bridge.worker!.metrics);
    expect(result).toEqual({ sent: 1, settled: true });
    expect(emailsFor('103')).toHaveLength(1);
    expect(webhooksFor('103')).toHaveLength(2);
    expect(webhooksFor('103')[1]!.headers['idempotency-key']).toBe(webhooksFor('103')[0]!.headers['idempotency-key']);
    expect([...accepted.values()].filter((delivery) => delivery.body.extension === '103')).toHaveLength(1);
    const deliveries = await deliveriesOf(row!.id);
    expect(deliveries.map((delivery) => [delivery.channel, delivery.state])).toEqual([
      ['email', 'unknown'],
      ['webhook', 'sent'],
    ]);
    expect(deliveries[0]!.last_error).toMatch(/never marked/);
    const unknownAfter = (await bridge.worker!.metrics.registrationAlerts.get()).values.find((value) => value.labels.outcome === 'unknown')?.value ?? 0;
    expect(unknownAfter).toBe(unknownBefore + 1);
    // Settled: a replay sends nothing.
    expect(await deliverRegistrationAlert(deps(), Number(row!.id))).toMatchObject({ sent: 0, reason: 'already sent' });
  });

  it('two workers delivering the same alert at once send it once', async () => {
    await stopMonitoringWorker();
    await loseAt('104', 1000);
    const [row] = await historyOf('104');
    const outcomes = await Promise.allSettled([deliverRegistrationAlert(deps(), Number(row!.id)), deliverRegistrationAlert(deps(), Number(row!.id))]);
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(AlertInFlightError);
    // Each send was claimed by exactly one of the two; one that found the other's claim in flight fails (its job retries).
    // The retry (as a job would run it) finds every delivery settled and sends nothing.
    expect(await deliverRegistrationAlert(deps(), Number(row!.id))).toMatchObject({ sent: 0, settled: true });
    expect(emailsFor('104')).toHaveLength(1);
    expect(webhooksFor('104')).toHaveLength(1);
  });

  it('WHMCS timing out after it sent the e-mail: outcome unknown, never sent again', async () => {
    await stopMonitoringWorker();
    whmcs.setFaults([{ mode: 'timeout_after_effect', percent: 100, actions: ['SendEmail'] }]);
    try {
      await loseAt('105', 1300);
      const [lost] = await historyOf('105');
      expect(await deliverRegistrationAlert(deps(), Number(lost!.id))).toEqual({ sent: 1, settled: true });
    } finally {
      whmcs.setFaults([]);
    }
    const [row] = await historyOf('105');
    expect((await deliveriesOf(row!.id)).map((delivery) => [delivery.channel, delivery.state])).toEqual([
      ['email', 'unknown'],
      ['webhook', 'sent'],
    ]);
    const round = { data: { now: at(1600).toISOString() } } as unknown as TypedJob<typeof MONITORING_JOBS.pollAll>;
    await handleRegistrationPollAll(deps(), round);
    expect(await deliverRegistrationAlert(deps(), Number(row!.id))).toMatchObject({ sent: 0 });
    expect(emailsFor('105')).toHaveLength(1);
  });

  it('a flapping phone (gone every other poll) never outlasts the grace period: no transition, no alert', async () => {
    for (let poll_ = 0; poll_ < 10; poll_ += 1) {
      const seconds = 2000 + poll_ * 60;
      if (poll_ % 2 === 0) phones = phones.filter(([number]) => number !== '106');
      else phones.push(['106', DOMAIN_A]);
      expect((await poll(seconds)).transitions.map((entry) => `${entry.extension} ${entry.transition}`)).toEqual([]);
    }
    expect(await historyOf('106')).toEqual([]);
  });

  it('the event socket dropping mid-poll fails the poll and marks nothing lost, however long it lasts', async () => {
    phones = phones.filter(([number]) => number !== '107');
    await poll(2700); // 107 missing from here
    bridge.esl.dropWhen = (command) => command === "sofia xmlstatus profile 'internal' reg";
    try {
      for (const seconds of [2760, 2820, 2880, 2940, 3000]) await expect(poll(seconds)).rejects.toThrow();
    } finally {
      bridge.esl.dropWhen = null;
    }
    phones.push(['107', DOMAIN_A]);
    await waitFor(
      () =>
        poll(3060).then(
          (result) => result.transitions.length === 0,
          () => false,
        ),
      15000,
      'a poll after the socket is back',
    );
    expect(await historyOf('107')).toEqual([]);
  });
});

describe('watch scope', () => {
  const watchedOf = async (serviceId: number) =>
    (await deps().pool.query('SELECT extension FROM registrations WHERE service_id = $1 ORDER BY extension', [serviceId])).rows.map((row: { extension: string }) => row.extension);
  const api = async (method: string, path: string, body?: unknown, token = bridge.config.adminToken) => {
    const response = await fetch(`${bridge.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  /** 202 marked (the first test's mark): a no-op after it. */
  const mark202 = async () => expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { mark: ['202'] })).status).toBe(200);

  it('the plan scope "marked" (WHMCS module setting) watches only the marked extensions', async () => {
    await poll(3200);
    expect(await watchedOf(MARKED)).toEqual([]);
    const marked = await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { mark: ['202'] });
    expect(marked.status).toBe(200);
    expect(marked.body).toMatchObject({ scope: 'marked', scopeOverride: null, planScope: 'marked', marked: ['202'] });
    await poll(3260);
    expect(await watchedOf(MARKED)).toEqual(['202']);
  });

  it('REST sets the scope over the plan (all, off), refuses a bad one naming the field, and is idempotent', async () => {
    await mark202();
    expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: 'all' })).body).toMatchObject({ scope: 'all', scopeOverride: 'all' });
    await poll(3320);
    expect(await watchedOf(MARKED)).toEqual(['201', '202']);
    const gauge = async () => (await bridge.worker!.metrics.registrationsWatched.get()).values.find((value) => value.labels.service_id === String(MARKED))?.value;
    expect(await gauge()).toBe(2);
    const bad = await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: 'some' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('scope');
    expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: 'off' })).body).toMatchObject({ scope: 'off' });
    expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: 'off' })).body).toMatchObject({ scope: 'off' });
    await poll(3380);
    expect(await watchedOf(MARKED)).toEqual([]);
    // No longer watched: its per-tenant series goes instead of keeping its last value.
    expect(await gauge()).toBeUndefined();
    expect((await api('GET', `/v1/tenants/${MARKED}/registrations/watch`)).body).toMatchObject({ scope: 'off', marked: ['202'], watched: true });
  });

  it('marking an extension the tenant does not have is refused naming it (400, body.mark.N), and nothing of the request is written', async () => {
    const before = (await api('GET', `/v1/tenants/${MARKED}/registrations/watch`)).body;
    const refused = await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: 'marked', mark: ['201', '9999'] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'body.mark.1', message: 'the tenant has no extension 9999' }] });
    expect((await api('GET', `/v1/tenants/${MARKED}/registrations/watch`)).body).toEqual(before);
  });

  it('marking on a tenant without a FusionPBX domain yet is 409 TENANT_NOT_PROVISIONED (no server read), and nothing is written', async () => {
    const undomained = 7303;
    await deps().pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state, plan) VALUES ($1, $2, NULL, 'active', '{}')`, [undomained, CLIENT]);
    const before = (await api('GET', `/v1/tenants/${undomained}/registrations/watch`)).body;
    const refused = await api('PUT', `/v1/tenants/${undomained}/registrations/watch`, { scope: 'all', mark: ['202'] });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'TENANT_NOT_PROVISIONED', message: `tenant ${undomained} has no FusionPBX domain (not created yet, or purged)` });
    expect((await api('GET', `/v1/tenants/${undomained}/registrations/watch`)).body).toEqual(before);
  });

  it('a tenant has at most 10,000 marked extensions: past that a mark is refused naming the field, nothing added', async () => {
    await mark202();
    const many = Array.from({ length: 9_999 }, (_, i) => String(500_000 + i));
    // Only the tenant's own extensions can be marked: give it these (removed again at the end).
    const numbers = [...many, '599999'];
    const addMany = `insert into v_extensions (extension_uuid, domain_uuid, extension, enabled)
      select gen_random_uuid(), d.domain_uuid, n, 'true' from v_domains d, unnest($2::text[]) n where d.domain_name = $1`;
    await bridge.fusion.query(addMany, [DOMAIN_M, numbers]);
    // In requests of 5,000 (a /v1 body is at most 64 KiB).
    const chunks = [many.slice(0, 5_000), many.slice(5_000)];
    for (const mark of chunks) expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { mark })).status).toBe(200);
    expect((await api('GET', `/v1/tenants/${MARKED}/registrations/watch`)).body.marked).toHaveLength(10_000);
    const over = await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { mark: ['599999'] });
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'body.mark', message: expect.stringContaining('at most 10000') }] });
    // Marking one and unmarking another in the same request stays within the limit.
    expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { mark: ['599999'], unmark: ['500000'] })).status).toBe(200);
    for (const unmark of [many.slice(0, 5_000), [...many.slice(5_000), '599999']]) {
      expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { unmark })).status).toBe(200);
    }
    expect((await api('GET', `/v1/tenants/${MARKED}/registrations/watch`)).body.marked).toEqual(['202']);
    await bridge.fusion.query('delete from v_extensions where extension = any($2::text[]) and domain_uuid = (select domain_uuid from v_domains where domain_name = $1)', [
      DOMAIN_M,
      numbers,
    ]);
  }, 60000);

  it('extra alert recipients are admin-only; a tenant key may not set them', async () => {
    const key = await runCli(bridge.env, ['keys', 'create', '--name', 'watch-test', '--service', String(MARKED), '--access', 'read-write', '--json']);
    const token = (key.json as { token?: string; key?: string }).token ?? (key.json as { key: string }).key;
    const refused = await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { recipients: ['http://127.0.0.1:1/internal'] }, token);
    expect(refused.status).toBe(403);
    expect((await api('GET', `/v1/tenants/${MARKED}/registrations/watch`)).body).toMatchObject({ recipients: [] });
    expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: null }, token)).body).toMatchObject({ scope: 'marked', scopeOverride: null });
  }, 60000);

  it('npx ictvoip registrations watch shows and sets the scope; registrations lost lists the lost phones (exit 2)', async () => {
    // What the tests above leave: the plan's scope with 202 marked, and 102-105 lost.
    expect((await api('PUT', `/v1/tenants/${MARKED}/registrations/watch`, { scope: null, mark: ['202'] })).status).toBe(200);
    await loseAll(['102', '103', '104', '105'], 3400);
    const shown = await runCli(bridge.env, ['registrations', 'watch', '--service', String(MARKED), '--json']);
    expect(shown.code).toBe(0);
    expect(shown.json).toMatchObject({ scope: 'marked', marked: ['202'] });
    // A number the tenant does not have is refused as the REST route refuses it, and nothing of the command is written.
    const typo = await runCli(bridge.env, ['registrations', 'watch', '--service', String(MARKED), '--scope', 'off', '--mark', '201,9999', '--json']);
    expect(typo.code).toBe(1);
    expect(typo.json).toEqual({ error: { code: 'UNKNOWN_EXTENSION', message: '--mark: the tenant has no extension 9999; nothing was changed' } });
    expect((await runCli(bridge.env, ['registrations', 'watch', '--service', String(MARKED), '--json'])).json).toEqual(shown.json);
    const set = await runCli(bridge.env, ['registrations', 'watch', '--service', String(MARKED), '--scope', 'all', '--unmark', '202']);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('scope all (set here)');
    expect((await runCli(bridge.env, ['registrations', 'watch', '--service', String(MARKED), '--scope', 'most'])).code).not.toBe(0);
    const lost = await runCli(bridge.env, ['registrations', 'lost', '--service', String(A), '--json']);
    expect(lost.code).toBe(2);
    expect((lost.json.lost as { extension: string }[]).map((state) => state.extension)).toEqual(['102', '103', '104', '105']);
    const human = await runCli(bridge.env, ['registrations', 'lost']);
    expect(human.stdout).toContain(`102@${DOMAIN_A}`);
    const rest = await api('GET', `/v1/tenants/${A}/registrations/lost`);
    expect((rest.body.data as { extension: string }[]).map((state) => state.extension)).toEqual(['102', '103', '104', '105']);
  }, 90000);

  it('GET …/registrations/history filters by extension and type and exports CSV', async () => {
    await lostAndRestored101();
    const filtered = await api('GET', `/v1/tenants/${A}/registrations/history?extension=101&type=restored`);
    expect((filtered.body.data as { extension: string; type: string }[]).map((entry) => `${entry.extension} ${entry.type}`)).toEqual(['101 registration.restored']);
    const ranged = await api('GET', `/v1/tenants/${A}/registrations/history?from=${at(0).toISOString()}&to=${at(300).toISOString()}`);
    expect((ranged.body.data as { extension: string; type: string }[]).map((entry) => `${entry.extension} ${entry.type}`)).toEqual(['101 registration.lost']);
    expect((await api('GET', `/v1/tenants/${A}/registrations/history?type=gone`)).status).toBe(400);
    const csv = await fetch(`${bridge.url}/v1/tenants/${A}/registrations/history?extension=101`, {
      headers: { authorization: `Bearer ${bridge.config.adminToken}`, accept: 'text/csv' },
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('id,type,extension,domain,at,missingSince,contactIp,contactPort,lanIp,userAgent,profile,alertSentAt');
    expect(lines.slice(1).map((line) => line.split(',')[1])).toEqual(['registration.restored', 'registration.lost']);
  });
});
