/**
 * Ending a domain's calls in progress the way FusionPBX's active-calls page does (app/calls_active,
 * 5.1.0 and 5.3.0): list `show channels as json`, work out each channel's domain, `uuid_kill` the
 * domain's channels one by one. Unlike `hupall`, this can spare a call: every call one of whose legs
 * dials an emergency number (rating's `[emergency]` list) stays up, both legs.
 */
import { isEmergencyNumber } from '@ictvoip/rating/exclusions';
import type { EslClient } from './esl/client';
import { EslCommandError } from './esl/errors';

/** The listing command (mod_commands show_function; FusionPBX's calls_active_inc.php sends the same). */
export const LIST_CHANNELS_COMMAND = 'show channels as json';

/** A row of FreeSWITCH's core `channels` table as `show channels as json` gives it: every column a string ("" when NULL). */
export type ChannelRow = Readonly<Record<string, string>>;

/** What the suspend does to one channel of the domain. */
export interface ChannelDecision {
  uuid: string;
  /** `kill`: uuid_kill it; `spare`: a leg of an emergency call; `unsafe`: a uuid that cannot go on a command line. */
  action: 'kill' | 'spare' | 'unsafe';
}

/** `show channels as json` did not answer with its JSON. */
export class ChannelListError extends Error {
  readonly code = 'FREESWITCH_CHANNEL_LIST';
  constructor(readonly reply: string) {
    super(`"${LIST_CHANNELS_COMMAND}" did not answer with a channel list: ${reply.slice(0, 200).trim()}`);
    this.name = 'ChannelListError';
  }
}

/**
 * The rows of a `show channels as json` reply. FreeSWITCH 1.10 answers `{"row_count":N,"rows":[…]}`
 * (cJSON_PrintUnformatted) when a channel exists, `{"row_count": 0}` and a line break when none does,
 * and `-ERR …` when its core database fails.
 */
export function parseChannelList(reply: string): ChannelRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply);
  } catch {
    throw new ChannelListError(reply);
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { row_count?: unknown }).row_count !== 'number') throw new ChannelListError(reply);
  const rows = (parsed as { rows?: unknown }).rows;
  if (rows === undefined) return [];
  if (!Array.isArray(rows)) throw new ChannelListError(reply);
  return rows.filter((row): row is ChannelRow => typeof row === 'object' && row !== null && typeof (row as { uuid?: unknown }).uuid === 'string');
}

const text = (row: ChannelRow, column: string): string => (typeof row[column] === 'string' ? row[column]! : '');

/**
 * The channel's domain as calls_active_inc.php works it out: its context unless empty, `public` or
 * `default` (the part after `@` when it has one), else the part after `@` of its presence_id.
 */
export function domainOfChannel(row: ChannelRow): string | null {
  const context = text(row, 'context');
  if (context !== '' && context !== 'public' && context !== 'default') return context.includes('@') ? (context.split('@')[1] ?? '') : context;
  const presence = text(row, 'presence_id');
  return presence.includes('@') ? (presence.split('@')[1] ?? '') : null;
}

/**
 * The numbers a bridge's dial string dials, each as FreeSWITCH's sofia endpoint sets the new leg's
 * destination (switch_sanitize_number: up to the first `@`, after the last `/` and `:`):
 * `{v=1}sofia/gateway/<uuid>/911` dials 911. Legs are separated by `,`, `|` or `:_:`.
 */
export function numbersOfDialString(data: string): string[] {
  const plain = data.replace(/\{[^}]*\}|\[[^\]]*\]|<[^>]*>/g, '');
  return plain
    .split(/:_:|[,|]/)
    .map((target) => {
      const local = target.trim().split('@')[0] ?? '';
      return local.slice(Math.max(local.lastIndexOf('/'), local.lastIndexOf(':')) + 1);
    })
    .filter((number) => number !== '');
}

/**
 * Whether this leg dials an emergency number: the destination it was created with or routed to
 * (`dest`, `initial_dest`), the party it is connected to (`callee_num`), or the numbers of the bridge
 * it runs (an a-leg dialling `9911` through `^9(911)$` whose 911 leg still rings: the two are linked
 * only once the call is answered and bridged).
 */
function dialsEmergency(row: ChannelRow): boolean {
  const numbers = [text(row, 'dest'), text(row, 'initial_dest'), text(row, 'callee_num')];
  if (text(row, 'application') === 'bridge') numbers.push(...numbersOfDialString(text(row, 'application_data')));
  return numbers.some((number) => isEmergencyNumber(number));
}

/**
 * The legs of each call: two channels belong to one call when one's `call_uuid` is the other's uuid
 * or both have the same `call_uuid` (FreeSWITCH sets it on both legs of a bridge). Returns each
 * channel's call key.
 */
function callsOf(rows: readonly ChannelRow[]): Map<string, string> {
  const parent = new Map<string, string>();
  const find = (node: string): string => {
    let root = node;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    parent.set(node, root);
    return root;
  };
  const join = (a: string, b: string) => {
    const [rootA, rootB] = [find(a), find(b)];
    if (rootA !== rootB) parent.set(rootA, rootB);
  };
  for (const row of rows) {
    const callUuid = text(row, 'call_uuid');
    find(row.uuid!);
    if (callUuid !== '') join(row.uuid!, callUuid);
  }
  return new Map(rows.map((row) => [row.uuid!, find(row.uuid!)]));
}

/** What may follow `uuid_kill ` on one command line: one word of printable ASCII (FreeSWITCH's uuids are UUIDs; origination_uuid can set anything). */
const KILLABLE_UUID = /^[\x21-\x7e]{1,256}$/;

/**
 * Which of `domain`'s channels to kill and which to spare: a channel is the domain's as FusionPBX's
 * active-calls page says (compared case-insensitively); a call is spared whole when any of its legs
 * (the domain's or not) dials an emergency number.
 */
export function decideChannels(rows: readonly ChannelRow[], domain: string): ChannelDecision[] {
  const wanted = domain.toLowerCase();
  const callOf = callsOf(rows);
  const emergencyCalls = new Set(rows.filter(dialsEmergency).map((row) => callOf.get(row.uuid!)!));
  return rows
    .filter((row) => domainOfChannel(row)?.toLowerCase() === wanted)
    .map((row): ChannelDecision => {
      if (emergencyCalls.has(callOf.get(row.uuid!)!)) return { uuid: row.uuid!, action: 'spare' };
      return { uuid: row.uuid!, action: KILLABLE_UUID.test(row.uuid!) ? 'kill' : 'unsafe' };
    });
}

/** mod_commands kill_function's reply for a uuid no session has (the call ended since it was listed). */
const NO_SUCH_CHANNEL = /^-ERR No such channel/;

export interface DomainHangup {
  /** The commands sent, in order: the listing, then one uuid_kill per channel killed. */
  actions: string[];
  /** Channels kept up: legs of an emergency call, or a uuid that cannot be sent. */
  spared: ChannelDecision[];
}

/**
 * Lists the switch's channels and kills `domain`'s with `cause`, emergency calls apart. A channel
 * that ended between the listing and its kill (FreeSWITCH: `-ERR No such channel!`; killing one leg
 * of a bridged call also ends the other) is no failure; any other `-ERR` is. Run again, it lists
 * again and kills only what is still up.
 */
export async function hangUpDomainCalls(esl: EslClient, domain: string, cause: string): Promise<DomainHangup> {
  const listing = await esl.api(LIST_CHANNELS_COMMAND, { allowErr: true });
  if (listing.startsWith('-ERR')) throw new EslCommandError(LIST_CHANNELS_COMMAND, listing);
  const decisions = decideChannels(parseChannelList(listing), domain);
  const commands = decisions.filter((decision) => decision.action === 'kill').map((decision) => `uuid_kill ${decision.uuid} ${cause}`);
  const replies = await esl.apiPipelined(commands);
  commands.forEach((command, index) => {
    const reply = replies[index]!;
    if (reply.startsWith('-ERR') && !NO_SUCH_CHANNEL.test(reply)) throw new EslCommandError(command, reply);
  });
  return { actions: [LIST_CHANNELS_COMMAND, ...commands], spared: decisions.filter((decision) => decision.action !== 'kill') };
}
