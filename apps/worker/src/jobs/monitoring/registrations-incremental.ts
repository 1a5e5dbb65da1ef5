import { diffReply, type IndexedReply, type Registration, type ReplyDiff, scanRegistrationEntry } from '@ictvoip/freeswitch';
import { perWorker } from './registrations-snapshot';

/**
 * What a poll leaves for the next one to observe only what changed. On a real switch most polls
 * differ from the last in a few phones' blocks (a refresh stores a new `exp(…)`), so a poll diffs
 * each reply against the last one block by block (diffReply), re-reads only the changed blocks and
 * compares only the extensions they are listed under, plus those still within their grace period.
 * Every other watched extension would plan `skip` in a full poll: its block did not change (but for
 * expsecs and ping time, which are not compared) and its row has not been written since (the
 * server's token is still this one).
 */

/** The block listing a `domain|user` key first (the full poll's first-entry-wins across profiles and blocks). */
export interface Winner {
  registration: Registration;
  profile: number;
  block: number;
}

/** A profile as the base poll read it: its reply indexed with each block's Registration, or its non-XML answer (`Invalid Profile!`). */
export type ProfileBase = { profile: string; index: IndexedReply; blocks: (Registration | null)[] } | { profile: string; unavailable: Buffer };

export interface PollBase {
  watchedKey: string;
  /** The server's state token after the base poll's writes: the poll that uses the base must find it still. */
  token: string;
  profiles: ProfileBase[];
  /** `domain|user` (and `realm|user`) → the block listing it first. */
  seen: Map<string, Winner>;
  /** Watched extensions (`domain|extension`) whose observation did not settle (within their grace period): observed again each poll. */
  pending: Set<string>;
  registered: number;
  unobserved: number;
  unavailableProfiles: readonly string[];
  perTenant: ReadonlyMap<number, { watched: number; registered: number }>;
}

/** The poll bases of one worker, by server. */
export const pollBasesOf = perWorker<PollBase>();

/** The keys a registration is matched under: its domain, and its auth realm when another (FusionPBX's domain filter takes either). */
export function keysOf(entry: Registration): string[] {
  const keys: string[] = [];
  if (entry.domain) keys.push(`${entry.domain}|${entry.extension}`);
  const realm = entry.sipAuthRealm?.toLowerCase();
  if (realm && realm !== entry.domain) keys.push(`${realm}|${entry.extension}`);
  return keys;
}

export function addWinner(seen: Map<string, Winner>, entry: Registration, profile: number, block: number): void {
  for (const key of keysOf(entry)) if (!seen.has(key)) seen.set(key, { registration: entry, profile, block });
}

/** A changed block must be the same phone's, listed under the same keys: otherwise blocks moved, and only a full poll finds the first of each key. */
function sameKeys(last: Registration | null, next: Registration | null): boolean {
  if (last === null || next === null) return last === next;
  const before = keysOf(last);
  const after = keysOf(next);
  return before.length === after.length && before.every((key, index) => key === after[index]);
}

/** More changed blocks than this and the full poll is as cheap (and a quarter of a switch re-registering at once is unusual). */
function maxChanged(blocks: number): number {
  return Math.max(64, Math.floor(blocks / 4));
}

/** Each reply diffed against the base's (null for a profile that did not answer, its answer the same); null when any is not its base's with blocks rewritten in place. */
export function diffReplies(base: PollBase, replies: ReadonlyMap<string, Buffer>): (ReplyDiff | null)[] | null {
  if (base.profiles.length !== replies.size) return null;
  const diffs: (ReplyDiff | null)[] = [];
  let index = 0;
  for (const [profile, bytes] of replies) {
    const last = base.profiles[index]!;
    index += 1;
    if (last.profile !== profile) return null;
    if ('unavailable' in last) {
      if (!last.unavailable.equals(bytes)) return null;
      diffs.push(null);
      continue;
    }
    const diff = diffReply(last.index, bytes, profile, maxChanged(last.blocks.length));
    if (!diff) return null;
    for (const change of diff.changed) if (!sameKeys(last.blocks[change.index] ?? null, change.registration)) return null;
    diffs.push(diff);
  }
  return diffs;
}

/**
 * Moves the base to the new replies (mutating it: the caller has taken it out of the worker's map).
 * Returns the keys whose first block changed, and the changed blocks (`profile:block`).
 */
export function applyDiffs(base: PollBase, diffs: readonly (ReplyDiff | null)[]): { touched: Set<string>; changed: Set<string> } {
  const touched = new Set<string>();
  const changed = new Set<string>();
  diffs.forEach((diff, profile) => {
    const last = base.profiles[profile]!;
    if (!diff || 'unavailable' in last) return;
    for (const { index, registration } of diff.changed) {
      last.blocks[index] = registration;
      changed.add(`${profile}:${index}`);
      if (!registration) continue;
      for (const key of keysOf(registration)) {
        const winner = base.seen.get(key);
        if (winner?.profile !== profile || winner.block !== index) continue;
        base.seen.set(key, { registration, profile, block: index });
        touched.add(key);
      }
    }
    base.profiles[profile] = { profile: last.profile, index: diff.next, blocks: last.blocks };
  });
  return { touched, changed };
}

/** The winner's Registration with this poll's volatile values (status, ping time): an unchanged block is read again, as a full poll would. */
export function currentRegistration(base: PollBase, winner: Winner, changed: ReadonlySet<string>): Registration {
  const profile = base.profiles[winner.profile]!;
  if (changed.has(`${winner.profile}:${winner.block}`) || 'unavailable' in profile) return winner.registration;
  const start = profile.index.blocks[2 * winner.block]!;
  const end = profile.index.blocks[2 * winner.block + 1]!;
  const text = profile.index.bytes.toString('utf8', start, end);
  return scanRegistrationEntry(text, '<registration>'.length, text.length - '</registration>'.length, profile.profile) ?? winner.registration;
}
