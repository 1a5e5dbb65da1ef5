import { diffReply, type IndexedReply, type Registration, type ReplyDiff, scanRegistrationEntry } from '@ictvoip/freeswitch';
import { perWorker } from '../../per-worker';

/**
 * What a poll leaves for the next one to observe only what changed. On a real switch most polls
 * differ from the last in a few phones' blocks (a refresh stores a new `exp(…)`, a phone registers
 * or its registration expires), so a poll diffs each reply against the last one block by block
 * (diffReply), re-reads only the new blocks and compares only the extensions listed under the new
 * and the removed ones, plus those still within their grace period. Every other watched extension
 * would plan `skip` in a full poll: the block it matches did not change (but for expsecs and ping
 * time, which are not compared) and its row has not been written since (the server's token is still
 * this one).
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
  /**
   * Keys that more than one block may list (a phone with two contacts, on two profiles): only these,
   * when their first block goes, need the blocks searched for another. Any other key was listed by
   * that block alone. It only grows until the next full poll (a key listed twice once stays in it).
   */
  shared: Set<string>;
  /** Watched extensions (`domain|extension`) whose observation did not settle (within their grace period): observed again each poll. */
  pending: Set<string>;
  registered: number;
  unobserved: number;
  /** The watched extensions (`domain|extension`) counted in `unobserved`: an incremental poll observes some again. */
  unobservedKeys: ReadonlySet<string>;
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

/** Records the block as the first listing each of its keys that no earlier block lists; a key listed before is `shared`. */
export function addWinner(seen: Map<string, Winner>, shared: Set<string>, entry: Registration, profile: number, block: number): void {
  for (const key of keysOf(entry)) {
    if (seen.has(key)) shared.add(key);
    else seen.set(key, { registration: entry, profile, block });
  }
}

/** More changed blocks than this and the full poll is as cheap (and a quarter of a switch re-registering at once is unusual). */
function maxChanged(blocks: number): number {
  return Math.max(64, Math.floor(blocks / 4));
}

/** Each reply diffed against the base's (null for a profile that did not answer, its answer the same); null when any is not its base's with blocks removed, inserted or rewritten. */
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
    diffs.push(diff);
  }
  return diffs;
}

export interface AppliedDiffs {
  /** Keys whose first block (the Registration they match) is another one now, or none. */
  touched: Set<string>;
  /** The new replies' blocks read anew (`profile:block`). */
  changed: Set<string>;
  /** Of the touched keys, the Registration each matched before (undefined: none). */
  before: Map<string, Registration | undefined>;
}

/** Whether a diff moved any kept block to another index (a block removed or inserted before it). */
function shifted(diff: ReplyDiff): boolean {
  if (diff.removed.length !== diff.changed.length) return true;
  for (let block = 0; block < diff.positions.length; block += 1) if (diff.positions[block]! >= 0 && diff.positions[block] !== block) return true;
  return false;
}

/** Whether winner `a` comes before `b` in the full poll's order (profiles in order, blocks in order). */
function earlier(a: Pick<Winner, 'profile' | 'block'>, b: Pick<Winner, 'profile' | 'block'>): boolean {
  return a.profile < b.profile || (a.profile === b.profile && a.block < b.block);
}

/**
 * Moves the base to the new replies (mutating it: the caller has taken it out of the worker's map).
 * A block rewritten in place by the same phone (a refresh: the usual change) lists the same keys
 * where it was, so it stays the first block of the keys it was first for, and of no other. Otherwise
 * only the keys of removed and inserted blocks can match another block now: the kept blocks keep
 * their order. For each, the first block listing it is found as the full poll finds it: the old
 * first one if kept, unless an inserted block comes earlier; when the old one went, an inserted
 * block before its place, or else the first of all blocks listing the key (one pass for all such keys).
 */
export function applyDiffs(base: PollBase, diffs: readonly (ReplyDiff | null)[]): AppliedDiffs {
  const touched = new Set<string>();
  const before = new Map<string, Registration | undefined>();
  // Each other key of a removed or inserted block, with the extension it lists (what a block must have to list it).
  const keys = new Map<string, string>();
  const firstInserted = new Map<string, Winner>();
  const changed = new Set<string>();
  const moved = diffs.map((diff) => diff !== null && shifted(diff));
  diffs.forEach((diff, profile) => {
    const last = base.profiles[profile]!;
    if (!diff || 'unavailable' in last) return;
    diff.changed.forEach(({ index, registration }, change) => {
      changed.add(`${profile}:${index}`);
      // Not moved: the removed and the inserted blocks are the same places, in the same order.
      const old = moved[profile] ? null : (last.blocks[diff.removed[change]!] ?? null);
      if (old && registration && sameKeys(old, registration)) {
        for (const key of keysOf(registration)) {
          const winner = base.seen.get(key);
          if (winner?.profile !== profile || winner.block !== index) continue;
          base.seen.set(key, { registration, profile, block: index });
          touched.add(key);
          before.set(key, old);
        }
        return;
      }
      if (old) for (const key of keysOf(old)) keys.set(key, old.extension);
      if (!registration) return;
      for (const key of keysOf(registration)) {
        keys.set(key, registration.extension);
        // Another block lists it too (a kept one, one going now, or one inserted before): it may need the search below.
        if (firstInserted.has(key) || base.seen.has(key)) base.shared.add(key);
        if (!firstInserted.has(key)) firstInserted.set(key, { registration, profile, block: index });
      }
    });
    // Moved: the removed blocks are not the inserted ones' places.
    if (moved[profile]) {
      for (const block of diff.removed) {
        const registration = last.blocks[block];
        if (registration) for (const key of keysOf(registration)) keys.set(key, registration.extension);
      }
    }
    base.profiles[profile] = { profile: last.profile, index: diff.next, blocks: movedBlocks(last.blocks, diff, moved[profile]!) };
  });
  const previous = new Map<string, Registration | undefined>();
  for (const key of keys.keys()) previous.set(key, before.has(key) ? before.get(key) : base.seen.get(key)?.registration);
  // The kept blocks' new indexes (a removed one's: -1 minus its place); Winners are one object per key.
  if (moved.includes(true)) for (const winner of base.seen.values()) if (moved[winner.profile]) winner.block = diffs[winner.profile]!.positions[winner.block]!;
  const unresolved = new Map<string, string>();
  for (const [key, extension] of keys) {
    const winner = base.seen.get(key);
    const inserted = firstInserted.get(key);
    const diff = winner ? diffs[winner.profile] : null;
    const block = winner && diff && !moved[winner.profile] ? diff.positions[winner.block]! : winner?.block;
    if (!winner || block === undefined) setWinner(base.seen, key, inserted);
    else if (block >= 0) setWinner(base.seen, key, inserted && earlier(inserted, { profile: winner.profile, block }) ? inserted : { ...winner, block });
    // The old first block went: every kept block listing the key comes at or after its place (-1 - block).
    else if (inserted && earlier(inserted, { profile: winner.profile, block: -1 - block })) setWinner(base.seen, key, inserted);
    // Listed by the gone block alone: no block lists it now (the search below reads every block of every profile).
    else if (!base.shared.has(key)) base.seen.delete(key);
    else unresolved.set(key, extension);
  }
  if (unresolved.size > 0) {
    const found = firstBlocks(base, unresolved);
    for (const key of unresolved.keys()) setWinner(base.seen, key, found.get(key));
  }
  for (const [key, registration] of previous) {
    if (base.seen.get(key)?.registration === registration) continue;
    touched.add(key);
    before.set(key, registration);
  }
  return { touched, changed, before };
}

/** Whether two blocks list the same keys (keysOf), without building them. */
function sameKeys(a: Registration, b: Registration): boolean {
  return a.domain === b.domain && a.extension === b.extension && realmKey(a) === realmKey(b);
}

function realmKey(entry: Registration): string | null {
  const realm = entry.sipAuthRealm?.toLowerCase();
  return realm && realm !== entry.domain ? realm : null;
}

function setWinner(seen: Map<string, Winner>, key: string, winner: Winner | undefined): void {
  if (winner) seen.set(key, { ...winner });
  else seen.delete(key);
}

/** A profile's Registrations by block after a diff: in place when no kept block moved. */
function movedBlocks(blocks: (Registration | null)[], diff: ReplyDiff, moved: boolean): (Registration | null)[] {
  const next = moved ? new Array<Registration | null>(diff.next.blocks.length / 2) : blocks;
  if (moved) diff.positions.forEach((position, block) => position >= 0 && (next[position] = blocks[block] ?? null));
  for (const { index, registration } of diff.changed) next[index] = registration;
  return next;
}

/** The first block listing each of `keys`, over every profile's blocks in order (those of keys no block lists are absent). */
function firstBlocks(base: PollBase, keys: ReadonlyMap<string, string>): Map<string, Winner> {
  // A cheap filter before keysOf builds a block's keys: its extension, and its domain or realm, among the keys'.
  const extensions = new Set(keys.values());
  const hosts = new Set([...keys].map(([key, extension]) => key.slice(0, key.length - extension.length - 1)));
  const found = new Map<string, Winner>();
  base.profiles.forEach((profile, index) => {
    if ('unavailable' in profile) return;
    profile.blocks.forEach((registration, block) => {
      if (!registration || !extensions.has(registration.extension)) return;
      if (!hosts.has(registration.domain) && !(registration.sipAuthRealm && hosts.has(registration.sipAuthRealm.toLowerCase()))) return;
      for (const key of keysOf(registration)) if (keys.has(key) && !found.has(key)) found.set(key, { registration, profile: index, block });
    });
  });
  return found;
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
