import { perWorker } from '../../per-worker';
import { RegistrationsReplyCache, sameButVolatile, type SteadyReply } from '@ictvoip/freeswitch';
import type { RegistrationObservation, RegistrationSighting, RegistrationState } from '@ictvoip/store';

/**
 * A worker's copy of one server's `registrations` rows, so a poll where nothing changed compares in
 * memory and writes nothing. Trusted only while its token is the server's (registration_servers):
 * any poll that writes the rows replaces the token first, under the server's lock, so a copy another
 * worker has made stale is read again rather than used.
 */
export interface SnapshotEntry {
  serviceId: number;
  registered: boolean;
  lost: boolean;
  missing: boolean;
  everSeen: boolean;
  /** The profile it was last seen on: a poll where that profile does not answer leaves it unobserved. */
  profile: string | null;
  /** The stored figures a registered extension keeps between changes (figuresKey). */
  figures: string;
}

export interface ServerSnapshot {
  token: string;
  entries: Map<string, SnapshotEntry>;
}

type Observation = Omit<RegistrationObservation, 'server' | 'lostAfterSeconds'>;

/**
 * What a registered extension's row holds that a steady poll would change. Not the seconds left to
 * expiry (they count down every poll): they are stored with the other figures when those change.
 */
export function figuresKey(serviceId: number, seen: RegistrationSighting | null): string {
  if (!seen) return String(serviceId);
  return `${serviceId}\u0000${seen.profile}\u0000${seen.contactIp}\u0000${seen.contactPort}\u0000${seen.lanIp}\u0000${seen.userAgent}\u0000${seen.expires}`;
}

export function snapshotEntryOf(state: RegistrationState): SnapshotEntry {
  return {
    serviceId: state.serviceId,
    registered: state.registered,
    lost: state.lost,
    missing: state.missingSince !== null,
    everSeen: state.firstSeen !== null,
    profile: state.profile,
    figures: figuresKey(state.serviceId, state.registered ? state : null),
  };
}

/**
 * How one observation is applied: `skip` (the row already says so), `new` (no row yet: one INSERT
 * for all), `figures` (still registered, or still absent, with other figures or service: one UPDATE
 * for all), `observe` (may move the state: all of a poll's in one locked transaction).
 */
export type ObservationPlan = 'skip' | 'new' | 'figures' | 'observe';

export function planObservation(entry: SnapshotEntry | undefined, observation: Observation): ObservationPlan {
  if (!entry) return 'new';
  const steadyPresent = observation.seen && entry.registered && !entry.lost && !entry.missing;
  // Absent and nothing to lose: never seen, or already lost.
  const steadyAbsent = !observation.seen && !entry.registered && (!entry.everSeen || entry.lost);
  if (!steadyPresent && !steadyAbsent) return 'observe';
  return figuresKey(observation.serviceId, observation.seen) === entry.figures ? 'skip' : 'figures';
}

/** The snapshots of one worker (its deps), by server. */
export const snapshotsOf = perWorker<ServerSnapshot>();

const replyCaches = perWorker<RegistrationsReplyCache>();

/** The parse cache of one server's profile, per worker: each poll's reply is read against the last one. */
export function replyCacheOf(owner: object, server: string, profile: string): RegistrationsReplyCache {
  const byProfile = replyCaches(owner);
  const key = `${server}\u0000${profile}`;
  let cache = byProfile.get(key);
  if (!cache) {
    cache = new RegistrationsReplyCache();
    byProfile.set(key, cache);
  }
  return cache;
}

/**
 * A server's last full poll that found nothing (more) to write and nothing pending (no phone within
 * its grace period): a poll with the same watched extensions, replies equal to
 * these but for their volatile values (sameButVolatile) and the server's rows still at `token` has the
 * same outcome, so it repeats this one's figures without parsing or comparing anything.
 */
export interface SteadyPoll {
  watchedKey: string;
  /** Each profile's reply; a profile that did not answer (`Invalid Profile!`) has its answer here with no volatile value. */
  replies: ReadonlyMap<string, SteadyReply>;
  token: string;
  registered: number;
  unavailableProfiles: readonly string[];
  unobserved: number;
  perTenant: ReadonlyMap<number, { watched: number; registered: number }>;
}

/** The steady polls of one worker, by server. */
export const steadyPollsOf = perWorker<SteadyPoll>();

/** Whether this poll's watched extensions and replies are the steady poll's (the order of the profiles included). */
export function repeatsSteadyPoll(steady: SteadyPoll, watchedKey: string, replies: ReadonlyMap<string, Buffer>): boolean {
  if (steady.watchedKey !== watchedKey || steady.replies.size !== replies.size) return false;
  const profiles = [...steady.replies.keys()];
  let index = 0;
  for (const [profile, bytes] of replies) {
    const last = steady.replies.get(profile);
    if (profiles[index] !== profile || !last || !sameButVolatile(last, bytes)) return false;
    index += 1;
  }
  return true;
}
