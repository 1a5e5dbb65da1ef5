import { randomUUID } from 'node:crypto';
import { seededRandom } from '@ictvoip/testkit';
import { pollServerRegistrations, type RegistrationPollResult } from '../src/jobs/monitoring/registrations-poll';
import { seedWatchedTenants, startBridge, type Bridge } from './harness';

/**
 * The incremental poll (issue 18): a poll whose replies are the last poll's with some blocks removed,
 * inserted or rewritten observes only the extensions those blocks are listed under (and those within
 * their grace period). Held to the full poll: the same random sequence of replies (refreshes moving
 * `exp(…)`, contact changes, losses one at a time and in runs, restores last or in the middle, phones
 * re-registering with a new call-id, a second registration of one user, reorderings; with a second
 * profile that holds some of the same users and stops answering for a while) is polled once by a
 * worker that keeps its memory between polls and once by workers with none (every poll a full one);
 * after every poll both give the same result and the same `registrations` rows, and only the polls
 * the diff cannot take are full ones.
 */

const TENANTS = [
  { serviceId: 8201, domain: 'incr-a.pbx.test' },
  { serviceId: 8202, domain: 'incr-b.pbx.test' },
  { serviceId: 8203, domain: 'incr-c.pbx.test' },
];
const EXTENSIONS = ['100', '101', '102', '103', '104', '105', '106', '107'];
/** Extension 108 of the first tenant registers as its number alias. */
const ALIASED = { extension: '108', alias: '5108' };
const T0 = Date.parse('2026-04-02T08:00:00Z');

interface Block {
  user: string;
  callId: string;
  port: number;
  agent: string;
  /** Minutes after T0 of its last refresh: `exp(…)` moves with it. */
  refreshedAt: number;
}

let bridge: Bridge;

function replyXml(blocks: readonly Block[], poll: number): string {
  const body = blocks.map((block, index) => {
    const [extension, domain] = block.user.split('@') as [string, string];
    const expires = new Date(T0 + (block.refreshedAt + 60) * 60_000).toISOString().slice(0, 19).replace('T', ' ');
    return [
      '    <registration>',
      `        <call-id>${block.callId}</call-id>`,
      `        <user>${block.user}</user>`,
      `        <contact>&quot;&quot; &lt;sip:${extension}@192.168.9.20:${block.port};fs_nat=yes&gt;</contact>`,
      `        <agent>${block.agent}</agent>`,
      `        <status>Registered(UDP-NAT)(unknown) exp(${expires}) expsecs(${(3600 - (poll - block.refreshedAt) * 60 - index + 36_000) % 3600})</status>`,
      '        <ping-status>Reachable</ping-status>',
      `        <ping-time>${((poll * 7 + index * 3) % 90) + 0.25}</ping-time>`,
      '        <host>fs1.pbx.test</host>',
      `        <network-ip>203.0.113.${10 + (block.port % 200)}</network-ip>`,
      `        <network-port>${block.port}</network-port>`,
      `        <sip-auth-user>${extension}</sip-auth-user>`,
      `        <sip-auth-realm>${domain}</sip-auth-realm>`,
      `        <mwi-account>${block.user}</mwi-account>`,
      '    </registration>',
    ].join('\n');
  });
  return `<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n${body.join('\n')}\n  </registrations>\n</profile>\n`;
}

/** Every watched phone registered once, in tenant order. */
function allRegistered(random: () => number): Block[] {
  const users = TENANTS.flatMap((tenant) => EXTENSIONS.map((extension) => `${extension}@${tenant.domain}`));
  users.push(`${ALIASED.alias}@${TENANTS[0]!.domain}`);
  return users.map((user) => ({ user, callId: `c-${user}`, port: 5060, agent: 'Yealink SIP-T46S 66.86.0.15', refreshedAt: Math.floor(random() * -30) }));
}

/** One poll's replies: the internal profile's, and the external one's (null: it answers `Invalid Profile!`). */
interface Replies {
  internal: string;
  external: string | null;
}

/**
 * A random sequence of replies, one per poll: each poll's reply is the last one with a few of the
 * changes a switch sees. With `external`, a second profile holds phones too (some users registered on
 * both) and stops answering for a few polls in the middle.
 */
function sequence(seed: number, polls: number, external = false): Replies[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const everyone = allRegistered(random);
  // With the second profile: about a third of the users on it, half of those on it only (unobserved while it is down).
  const onExternal = external ? everyone.filter(() => random() < 0.35) : [];
  const onlyExternal = new Set(onExternal.filter(() => random() < 0.5).map((block) => block.user));
  const profiles: Block[][] = [everyone.filter((block) => !onlyExternal.has(block.user)), onExternal.map((block) => ({ ...block, callId: `x-${block.user}` }))];
  const replies: Replies[] = [];
  let stranded: Block[] = [];
  for (let poll = 1; poll <= polls; poll += 1) {
    const internalUsers = () => new Set(profiles[0]!.map((block) => block.user));
    // The second profile's own phones when it stops answering (unobserved); one of them moves to the first profile meanwhile.
    if (external && poll === 12) stranded = profiles[1]!.filter((block) => !internalUsers().has(block.user));
    const moving = external && poll === 15 ? stranded.find((block) => !internalUsers().has(block.user)) : undefined;
    if (moving) profiles[0] = [...profiles[0]!, { ...moving, callId: `moved-in-${poll}`, refreshedAt: poll }];
    const changes = Math.floor(random() * 5);
    for (let change = 0; change < changes; change += 1) {
      const which = external && random() < 0.35 ? 1 : 0;
      profiles[which] = changed(profiles[which]!, poll, random, pick, everyone);
    }
    const down = external && poll >= 12 && poll < 22;
    replies.push({ internal: replyXml(profiles[0]!, poll), external: external && !down ? replyXml(profiles[1]!, poll) : null });
  }
  return replies;
}

/** A profile's blocks after one random change. */
function changed(blocks: Block[], poll: number, random: () => number, pick: <T>(list: readonly T[]) => T, everyone: readonly Block[]): Block[] {
  const roll = random();
  const at = Math.floor(random() * blocks.length);
  if (roll < 0.3 && blocks.length > 0) {
    // A refresh: FreeSWITCH stores the new expiry (an UPDATE: the block keeps its place).
    return blocks.map((block, index) => (index === at ? { ...block, refreshedAt: poll } : block));
  }
  if (roll < 0.37 && blocks.length > 0) return blocks.map((block, index) => (index === at ? { ...block, port: 1024 + Math.floor(random() * 60000), refreshedAt: poll } : block));
  if (roll < 0.42 && blocks.length > 0) return blocks.map((block, index) => (index === at ? { ...block, agent: `Agent expsecs(${Math.floor(random() * 3)})` } : block));
  // A registration expired or unregistered (a DELETE: the others stay as they were).
  if (roll < 0.52 && blocks.length > 0) return blocks.filter((_, index) => index !== at);
  // An office offline: a run of its phones gone at once.
  if (roll < 0.57) return blocks.filter((_, index) => index < at || index >= at + 2 + Math.floor(random() * 5));
  // A phone registering again (an INSERT: listed last).
  if (roll < 0.67) {
    const back = pick(everyone);
    return blocks.some((block) => block.user === back.user) ? blocks : [...blocks, { ...back, callId: `c-${back.user}-${poll}`, refreshedAt: poll }];
  }
  // Phones back in the middle of the list (a switch whose table returns rows in another order).
  if (roll < 0.72) {
    const back = everyone.filter((phone) => !blocks.some((block) => block.user === phone.user) && random() < 0.5).map((phone) => ({ ...phone, refreshedAt: poll }));
    return [...blocks.slice(0, at), ...back, ...blocks.slice(at)];
  }
  // A phone re-registering with a new call-id: its old row deleted, a new one last.
  if (roll < 0.8 && blocks.length > 0) return [...blocks.filter((_, index) => index !== at), { ...blocks[at]!, callId: `moved-${poll}-${at}`, refreshedAt: poll }];
  if (roll < 0.86) {
    // The same user registered from a second phone: listed after the first.
    const user = pick(everyone).user;
    if (blocks.filter((block) => block.user === user).length !== 1) return blocks;
    return [...blocks, { user, callId: `second-${user}-${poll}`, port: 6000 + poll, agent: 'Zoiper rv2.10.19.2', refreshedAt: poll }];
  }
  if (roll < 0.9) return [...blocks].reverse();
  // A few polls of nothing but volatile values in a row.
  return blocks;
}

interface Observed {
  result: Pick<RegistrationPollResult, 'watched' | 'registered' | 'unobserved'> & { transitions: string[] };
  rows: Record<string, unknown>[];
}

/** Polls every reply of the sequence a minute apart, with this worker's memory (`remember`) or a worker with none for each poll. */
async function run(replies: readonly Replies[], remember: boolean): Promise<{ observed: Observed[]; paths: RegistrationPollResult['path'][] }> {
  const pool = bridge.worker!.deps.pool;
  await pool.query('TRUNCATE registrations, registration_history, registration_servers');
  const deps = { ...bridge.worker!.deps };
  const observed: Observed[] = [];
  const paths: RegistrationPollResult['path'][] = [];
  for (const [index, reply] of replies.entries()) {
    bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => reply.internal);
    bridge.esl.respond("sofia xmlstatus profile 'external' reg", () => reply.external ?? 'Invalid Profile!\n');
    const result = await pollServerRegistrations(remember ? deps : { ...deps }, 'default', new Date(T0 + (index + 1) * 60_000));
    paths.push(result.path);
    const { rows } = await pool.query('SELECT * FROM registrations ORDER BY domain, extension');
    observed.push({
      result: {
        watched: result.watched,
        registered: result.registered,
        unobserved: result.unobserved,
        transitions: result.transitions.map((entry) => `${entry.extension}@${entry.domain} ${entry.transition} ${entry.at.toISOString()}`),
      },
      rows,
    });
  }
  return { observed, paths };
}

/**
 * The polls that must be observed in full: the first, one where a profile starts or stops answering
 * (its answer is another), and one where a profile's reply or the last one has no block and the
 * other differs (the diff needs a block to tell the header from the trailer).
 */
function mustBeFull(replies: readonly Replies[], index: number): boolean {
  if (index === 0) return true;
  const [last, next] = [replies[index - 1]!, replies[index]!];
  const empty = (reply: string | null) => reply !== null && !reply.includes('<registration>');
  const emptied = (before: string | null, after: string | null) => (empty(before) || empty(after)) && before !== after;
  return (last.external === null) !== (next.external === null) || emptied(last.internal, next.internal) || emptied(last.external, next.external);
}

beforeAll(async () => {
  // Two polls of grace: a phone missing for one poll is within it, observed again on the next.
  bridge = await startBridge({ REGISTRATION_LOST_AFTER_SECONDS: '120' }, { logLevel: 'warn' });
  await bridge.startWorker({ schedulers: false });
  const { domainUuids } = await seedWatchedTenants(bridge, TENANTS, EXTENSIONS);
  await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, number_alias, enabled) values ($1, $2, $3, $4, 'true')`, [
    randomUUID(),
    domainUuids.get(TENANTS[0]!.domain),
    ALIASED.extension,
    ALIASED.alias,
  ]);
}, 60000);

afterAll(async () => {
  await bridge?.close();
});

describe('the incremental registration poll', () => {
  it('observes a refresh (a new exp) on the poll it appears, and only the refreshed phone is written', async () => {
    const random = seededRandom(3);
    const blocks = allRegistered(random);
    const refreshed = blocks.map((block, index) => (index === 4 ? { ...block, refreshedAt: 2 } : block));
    // The second profile answers with no phone at all: the same again is no change.
    const { observed, paths } = await run(
      [replyXml(blocks, 1), replyXml(refreshed, 2)].map((internal, index) => ({ internal, external: replyXml([], index + 1) })),
      true,
    );
    expect(paths).toEqual(['full', 'incremental']);
    const user = blocks[4]!.user;
    const changedRows = observed[1]!.rows.filter((row, index) => JSON.stringify(row) !== JSON.stringify(observed[0]!.rows[index]));
    expect(changedRows.map((row) => `${row.extension}@${row.domain}`)).toEqual([user]);
    expect(changedRows[0]).toMatchObject({ expires: new Date(T0 + 62 * 60_000).toISOString().slice(0, 19).replace('T', ' '), last_seen: new Date(T0 + 120_000) });
  });

  it.each([
    [1, false],
    [2, false],
    [3, false],
    [4, false],
    [5, true],
    [6, true],
    [7, true],
  ])(
    'gives the rows and results of the full poll over random refreshes, losses, restores, moves, contact changes and reorderings (seed %i, second profile %s)',
    async (seed, external) => {
      const replies = sequence(seed, 40, external);
      const incremental = await run(replies, true);
      const full = await run(replies, false);
      expect(full.paths.every((path) => path === 'full')).toBe(true);
      for (const [index, expected] of full.observed.entries()) expect({ poll: index + 1, ...incremental.observed[index]! }).toEqual({ poll: index + 1, ...expected });
      // Phones appearing, going and moving are lined up: only a poll the diff cannot take is a full one.
      const expectedPaths = replies.map((_, index) => (mustBeFull(replies, index) ? 'full' : 'not full'));
      expect(incremental.paths.map((path) => (path === 'full' ? 'full' : 'not full'))).toEqual(expectedPaths);
      expect(incremental.paths.filter((path) => path === 'incremental').length).toBeGreaterThanOrEqual(20);
      // The sequence did what it is for: incremental polls that moved states and counts (and, with the second profile down, the unobserved count).
      const moved = (field: 'registered' | 'unobserved') =>
        incremental.paths.filter((path, index) => path === 'incremental' && incremental.observed[index]!.result[field] !== incremental.observed[index - 1]!.result[field]).length;
      expect(incremental.paths.filter((path, index) => path === 'incremental' && incremental.observed[index]!.result.transitions.length > 0).length).toBeGreaterThanOrEqual(3);
      expect(moved('registered')).toBeGreaterThanOrEqual(3);
      if (external) expect(moved('unobserved')).toBeGreaterThanOrEqual(1);
    },
    180000,
  );
});
