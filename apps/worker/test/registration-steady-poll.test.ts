import { randomUUID } from 'node:crypto';
import { seededRandom } from '@ictvoip/testkit';
import { MonitoringWatchRepository } from '@ictvoip/store';
import { pollServerRegistrations, type RegistrationPollResult } from '../src/jobs/monitoring/registrations-poll';
import { seedWatchedTenants, startBridge, type Bridge } from './harness';
import { sofiaRegistrationsXml } from './sofia-registrations-xml';

/**
 * The steady poll (issue 18): a poll whose replies differ from the last steady one's only in expsecs
 * and ping times, with the same watched extensions and rows no other poll has written since, repeats
 * that poll's outcome without parsing. These tests hold it to the full poll: every change is seen on
 * the very poll it appears, and a worker with no memory polling the same reply at the same time finds
 * nothing left to write.
 */

const TENANTS = [
  { serviceId: 8101, domain: 'steady-a.pbx.test' },
  { serviceId: 8102, domain: 'steady-b.pbx.test' },
];
const EXTENSIONS = ['100', '101', '102', '103', '104', '105'];
const T0 = Date.parse('2026-04-01T08:00:00Z');

interface Phone {
  ip: string;
  port: number;
  agent: string;
}

let bridge: Bridge;
/** The registered phones, by `extension@domain`, in the order the switch lists them. */
let phones = new Map<string, Phone>();
/** Moves every poll: what counts down or is re-measured on a real switch. */
let pollNumber = 0;
const extensionUuids = new Map<string, string>();

function replyXml(): string {
  return sofiaRegistrationsXml(
    [...phones].map(([user, phone], index) => ({
      user,
      lanIp: `192.168.7.${10 + (index % 200)}`,
      networkIp: phone.ip,
      networkPort: phone.port,
      agent: phone.agent,
      expires: '2026-04-01 09:00:00',
      expiresInSeconds: (3600 - pollNumber * 60 - index + 36_000) % 3600,
      pingTime: ((pollNumber * 7 + index * 3) % 90) + 0.25,
    })),
  );
}

/** One poll of this worker, a minute after the last; `parsed` says whether it read the replies (in full or their changed blocks; false: the steady poll repeated). */
async function poll(): Promise<RegistrationPollResult & { parsed: boolean; now: Date }> {
  pollNumber += 1;
  const now = new Date(T0 + pollNumber * 60_000);
  const result = await pollServerRegistrations(bridge.worker!.deps, 'default', now);
  return { ...result, parsed: result.path !== 'repeated', now };
}

async function rows(): Promise<Record<string, unknown>[]> {
  return (await bridge.worker!.deps.pool.query(`SELECT *, xmin::text AS version FROM registrations ORDER BY domain, extension`)).rows;
}

async function row(user: string): Promise<Record<string, unknown> | undefined> {
  const [extension, domain] = user.split('@');
  return (await bridge.worker!.deps.pool.query('SELECT * FROM registrations WHERE domain = $1 AND extension = $2', [domain, extension])).rows[0];
}

/** A worker with no memory (no snapshot, no steady poll, no parse cache) polls the same reply at the same time: it must find nothing to write. */
async function expectFullPollAgrees(result: RegistrationPollResult & { now: Date }): Promise<void> {
  const before = await rows();
  const fresh = await pollServerRegistrations({ ...bridge.worker!.deps }, 'default', result.now);
  expect({ watched: fresh.watched, registered: fresh.registered, unobserved: fresh.unobserved, transitions: fresh.transitions }).toEqual({
    watched: result.watched,
    registered: result.registered,
    unobserved: result.unobserved,
    transitions: [],
  });
  expect(await rows()).toEqual(before);
}

async function setEnabled(user: string, enabled: boolean): Promise<void> {
  await bridge.fusion.query('update v_extensions set enabled = $1 where extension_uuid = $2', [String(enabled), extensionUuids.get(user)]);
}

function registerAll(): void {
  phones = new Map();
  for (const tenant of TENANTS) {
    for (const extension of EXTENSIONS)
      phones.set(`${extension}@${tenant.domain}`, { ip: `198.51.100.${Number(extension) - 90}`, port: 5060, agent: 'Yealink SIP-T46S 66.86.0.15' });
  }
}

beforeAll(async () => {
  // Lost at once when missing: every poll either settles a phone or leaves it as it was (nothing in a grace period).
  bridge = await startBridge({ REGISTRATION_LOST_AFTER_SECONDS: '0' }, { logLevel: 'warn' });
  await bridge.startWorker({ schedulers: false });
  for (const [user, uuid] of (await seedWatchedTenants(bridge, TENANTS, EXTENSIONS)).extensionUuids) extensionUuids.set(user, uuid);
  bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => replyXml());
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

describe('the steady registration poll', () => {
  it('repeats the last outcome without parsing while only expsecs and ping times move; each change is seen on the very poll it appears', async () => {
    registerAll();
    const first = await poll();
    expect(first).toMatchObject({ parsed: true, watched: 12, registered: 12, unavailableProfiles: ['external'] });
    const settled = await rows();
    const steady = await poll();
    expect(steady).toMatchObject({ parsed: false, watched: 12, registered: 12, unavailableProfiles: ['external'], transitions: [] });
    expect(await rows()).toEqual(settled);
    const server = await bridge.worker!.deps.pool.query(`SELECT polled_at FROM registration_servers WHERE server = 'default'`);
    expect(server.rows[0].polled_at).toEqual(steady.now);

    // A figure the row keeps (the phone's public address) changes: written on this poll.
    phones.get(`101@${TENANTS[0]!.domain}`)!.ip = '203.0.113.77';
    expect(await poll()).toMatchObject({ parsed: true, transitions: [] });
    expect(await row(`101@${TENANTS[0]!.domain}`)).toMatchObject({ contact_ip: '203.0.113.77', registered: true });
    expect((await poll()).parsed).toBe(false);

    // A user agent that happens to hold `expsecs(…)` is a kept figure, not a volatile one.
    phones.get(`102@${TENANTS[1]!.domain}`)!.agent = 'Odd phone expsecs(10)';
    await poll();
    phones.get(`102@${TENANTS[1]!.domain}`)!.agent = 'Odd phone expsecs(11)';
    expect((await poll()).parsed).toBe(true);
    expect(await row(`102@${TENANTS[1]!.domain}`)).toMatchObject({ user_agent: 'Odd phone expsecs(11)' });

    // Gone: lost on this very poll (grace period 0); back: restored on the next.
    const gone = phones.get(`103@${TENANTS[0]!.domain}`)!;
    phones.delete(`103@${TENANTS[0]!.domain}`);
    expect((await poll()).transitions.map((entry) => `${entry.extension}@${entry.domain} ${entry.transition}`)).toEqual([`103@${TENANTS[0]!.domain} lost`]);
    expect((await poll()).parsed).toBe(false);
    phones.set(`103@${TENANTS[0]!.domain}`, gone);
    expect((await poll()).transitions.map((entry) => `${entry.extension}@${entry.domain} ${entry.transition}`)).toEqual([`103@${TENANTS[0]!.domain} restored`]);
    expect((await poll()).parsed).toBe(false);
  });

  it('watches an extension added or disabled in FusionPBX, or a changed watch scope, on the next poll', async () => {
    registerAll();
    await poll();
    expect((await poll()).parsed).toBe(false);
    const domainUuid = (await bridge.fusion.query('select domain_uuid from v_domains where domain_name = $1', [TENANTS[0]!.domain])).rows[0].domain_uuid;
    await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, enabled) values ($1, $2, '199', 'true')`, [randomUUID(), domainUuid]);
    expect(await poll()).toMatchObject({ parsed: true, watched: 13, registered: 12 });
    expect(await row(`199@${TENANTS[0]!.domain}`)).toMatchObject({ registered: false });
    await setEnabled(`105@${TENANTS[1]!.domain}`, false);
    expect(await poll()).toMatchObject({ watched: 12, registered: 11 });
    expect(await row(`105@${TENANTS[1]!.domain}`)).toBeUndefined();
    await setEnabled(`105@${TENANTS[1]!.domain}`, true);
    const watch = new MonitoringWatchRepository(bridge.worker!.deps.pool);
    await watch.set(TENANTS[1]!.serviceId, { scope: 'marked' });
    await watch.mark(TENANTS[1]!.serviceId, ['100', '101'], true);
    expect(await poll()).toMatchObject({ watched: 9, registered: 8 });
    expect((await poll()).parsed).toBe(false);
    await watch.set(TENANTS[1]!.serviceId, { scope: null });
    expect(await poll()).toMatchObject({ parsed: true, watched: 13, registered: 12 });
  });

  it("another worker's write makes the steady outcome stale: the next poll reads the replies again", async () => {
    registerAll();
    await poll();
    expect((await poll()).parsed).toBe(false);
    // The other worker sees 100 gone and writes it lost.
    phones.delete(`100@${TENANTS[0]!.domain}`);
    pollNumber += 1;
    await pollServerRegistrations({ ...bridge.worker!.deps }, 'default', new Date(T0 + pollNumber * 60_000));
    registerAll();
    const next = await poll();
    expect(next.parsed).toBe(true);
    expect(next.transitions.map((entry) => `${entry.extension} ${entry.transition}`)).toEqual(['100 restored']);
  });

  it('agrees with a full poll over random changes (property test): a worker with no memory finds nothing left to write', async () => {
    registerAll();
    const random = seededRandom(1818);
    const users = [...phones.keys()];
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const registered = new Map(phones);
    let repeated = 0;
    for (let round = 0; round < 40; round += 1) {
      const change = random();
      const user = pick(users);
      if (change < 0.45) {
        // Nothing but expsecs and ping times.
      } else if (change < 0.55 && phones.has(user)) {
        phones.set(user, { ...phones.get(user)!, port: 1024 + Math.floor(random() * 60000) });
      } else if (change < 0.62 && phones.has(user)) {
        phones.set(user, { ...phones.get(user)!, agent: `Agent expsecs(${Math.floor(random() * 3)})` });
      } else if (change < 0.72) {
        phones.delete(user);
      } else if (change < 0.82) {
        phones.set(user, registered.get(user)!);
      } else if (change < 0.9) {
        await setEnabled(user, random() < 0.5);
      } else {
        // The switch lists its phones in another order.
        phones = new Map([...phones].reverse());
      }
      const result = await poll();
      if (!result.parsed) repeated += 1;
      await expectFullPollAgrees(result);
    }
    expect(repeated).toBeGreaterThanOrEqual(10);
  }, 120000);
});
