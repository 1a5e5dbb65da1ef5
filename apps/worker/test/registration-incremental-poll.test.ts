import { randomUUID } from 'node:crypto';
import { seededRandom } from '@ictvoip/testkit';
import { pollServerRegistrations, type RegistrationPollResult } from '../src/jobs/monitoring/registrations-poll';
import { seedWatchedTenants, startBridge, type Bridge } from './harness';

/**
 * The incremental poll (issue 18): a poll whose replies are the last poll's with some blocks rewritten
 * in place observes only the extensions those blocks are listed under (and those within their grace
 * period). Held to the full poll: the same random sequence of replies (refreshes moving `exp(…)`,
 * contact changes, losses, restores, a second registration of one user, reorderings) is polled once
 * by a worker that keeps its memory between polls and once by workers with none (every poll a full
 * one); after every poll both give the same result and the same `registrations` rows.
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

/** A random sequence of replies, one per poll: each poll's reply is the last one with a few of the changes a switch sees. */
function sequence(seed: number, polls: number): string[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const everyone = allRegistered(random);
  let blocks = everyone.map((block) => ({ ...block }));
  const replies: string[] = [];
  for (let poll = 1; poll <= polls; poll += 1) {
    const changes = Math.floor(random() * 4);
    for (let change = 0; change < changes; change += 1) {
      const roll = random();
      if (roll < 0.45 && blocks.length > 0) {
        // A refresh: FreeSWITCH stores the new expiry (an UPDATE: the block keeps its place).
        const block = pick(blocks);
        blocks[blocks.indexOf(block)] = { ...block, refreshedAt: poll };
      } else if (roll < 0.55 && blocks.length > 0) {
        const block = pick(blocks);
        blocks[blocks.indexOf(block)] = { ...block, port: 1024 + Math.floor(random() * 60000), refreshedAt: poll };
      } else if (roll < 0.62 && blocks.length > 0) {
        const block = pick(blocks);
        blocks[blocks.indexOf(block)] = { ...block, agent: `Agent expsecs(${Math.floor(random() * 3)})` };
      } else if (roll < 0.74 && blocks.length > 0) {
        blocks.splice(Math.floor(random() * blocks.length), 1);
      } else if (roll < 0.84) {
        const back = pick(everyone);
        if (!blocks.some((block) => block.user === back.user)) blocks.push({ ...back, refreshedAt: poll });
      } else if (roll < 0.9) {
        // The same user registered from a second phone: listed after the first.
        const user = pick(everyone).user;
        if (blocks.filter((block) => block.user === user).length === 1)
          blocks.push({ user, callId: `second-${user}-${poll}`, port: 6000 + poll, agent: 'Zoiper rv2.10.19.2', refreshedAt: poll });
      } else if (roll < 0.95) {
        blocks = blocks.reverse();
      } else {
        // A few polls of nothing but volatile values in a row.
      }
    }
    replies.push(replyXml(blocks, poll));
  }
  return replies;
}

interface Observed {
  result: Pick<RegistrationPollResult, 'watched' | 'registered' | 'unobserved'> & { transitions: string[] };
  rows: Record<string, unknown>[];
}

/** Polls every reply of the sequence a minute apart, with this worker's memory (`remember`) or a worker with none for each poll. */
async function run(replies: readonly string[], remember: boolean): Promise<{ observed: Observed[]; incremental: number }> {
  const pool = bridge.worker!.deps.pool;
  await pool.query('TRUNCATE registrations, registration_history, registration_servers');
  const deps = { ...bridge.worker!.deps };
  const observed: Observed[] = [];
  let incremental = 0;
  for (const [index, reply] of replies.entries()) {
    bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => reply);
    const result = await pollServerRegistrations(remember ? deps : { ...deps }, 'default', new Date(T0 + (index + 1) * 60_000));
    if (result.path === 'incremental') incremental += 1;
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
  return { observed, incremental };
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
    const { observed, incremental } = await run([replyXml(blocks, 1), replyXml(refreshed, 2)], true);
    expect(incremental).toBe(1);
    const user = blocks[4]!.user;
    const changedRows = observed[1]!.rows.filter((row, index) => JSON.stringify(row) !== JSON.stringify(observed[0]!.rows[index]));
    expect(changedRows.map((row) => `${row.extension}@${row.domain}`)).toEqual([user]);
    expect(changedRows[0]).toMatchObject({ expires: new Date(T0 + 62 * 60_000).toISOString().slice(0, 19).replace('T', ' '), last_seen: new Date(T0 + 120_000) });
  });

  it.each([1, 2, 3])(
    'gives the rows and results of the full poll over random refreshes, losses, restores, contact changes and reorderings (seed %i)',
    async (seed) => {
      const replies = sequence(seed, 30);
      const incremental = await run(replies, true);
      const full = await run(replies, false);
      expect(full.incremental).toBe(0);
      for (const [index, expected] of full.observed.entries()) expect({ poll: index + 1, ...incremental.observed[index]! }).toEqual({ poll: index + 1, ...expected });
      // Most polls change a few blocks in place: the incremental path must have been the one taken.
      expect(incremental.incremental).toBeGreaterThanOrEqual(8);
    },
    180000,
  );
});
