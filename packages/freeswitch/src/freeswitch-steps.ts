import { validateCacheKey, validateProfile, validateUserAtDomain, validateUuid } from './validate';

/**
 * What has to happen on the FreeSWITCH side after a FusionPBX transaction committed. Plain JSON so
 * the caller can store it as "pending apply" and retry it on its own; every step is idempotent.
 */
export type FreeswitchStep =
  /** Delete one FusionPBX/FreeSWITCH cache key (e.g. `directory:101@t1.example.com`, `dialplan:t1.example.com`). */
  | { kind: 'cache_delete'; key: string }
  /** Delete `configuration:sofia.conf:<switchname>`; the switchname is asked from FreeSWITCH at apply time. */
  | { kind: 'sofia_conf_cache_delete' }
  /** `sofia profile <profile> rescan`: starts gateways that are enabled but not running. */
  | { kind: 'sofia_rescan'; profile: string }
  /** `sofia profile <profile> killgw <uuid>`: stops a running gateway (no-op when not running). */
  | { kind: 'gateway_kill'; profile: string; gatewayUuid: string }
  /** `sofia profile <profile> startgw <uuid>`: (re)loads one gateway from sofia.conf. */
  | { kind: 'gateway_start'; profile: string; gatewayUuid: string }
  /** `sofia profile <profile> flush_inbound_reg <ext@domain> reboot`: drops a registration now. */
  | { kind: 'flush_registration'; profile: string; user: string }
  /** `reloadacl`: FreeSWITCH re-reads acl.conf (FusionPBX's Access Controls) after `configuration:acl.conf` is deleted. */
  | { kind: 'reload_acl' };

/** Throws FreeswitchValidationError when a step carries something that could break out of its command. */
export function validateStep(step: FreeswitchStep): FreeswitchStep {
  switch (step.kind) {
    case 'cache_delete':
      validateCacheKey(step.key, 'step.key');
      return step;
    case 'sofia_conf_cache_delete':
    case 'reload_acl':
      return step;
    case 'sofia_rescan':
      validateProfile(step.profile, 'step.profile');
      return step;
    case 'gateway_kill':
    case 'gateway_start':
      validateProfile(step.profile, 'step.profile');
      validateUuid(step.gatewayUuid, 'step.gatewayUuid');
      return step;
    case 'flush_registration':
      validateProfile(step.profile, 'step.profile');
      validateUserAtDomain(step.user, 'step.user');
      return step;
  }
}

/** Drops exact duplicates, keeping first occurrence order. */
export function uniqueSteps(steps: FreeswitchStep[]): FreeswitchStep[] {
  const seen = new Set<string>();
  return steps.filter((step) => {
    const key = JSON.stringify(step);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export const directoryKey = (extension: string, domainName: string) => `directory:${extension}@${domainName}`;
export const dialplanKey = (context: string) => `dialplan:${context}`;
/** The key acl.conf.lua caches the Access Controls under (access_control_edit.php deletes it before reloadacl). */
export const ACL_CACHE_KEY = 'configuration:acl.conf';

/**
 * The FreeSWITCH steps still owed for a service, after `later` steps join the `earlier` ones: a
 * gateway kill supersedes every earlier start of that gateway (a start after a kill is kept: the
 * gateway is reloaded), and a repeated step keeps only its last place, so a rescan stays after the
 * cache deletes it depends on. The result is what one apply must send to reach the current state.
 */
export function coalesceSteps(earlier: readonly FreeswitchStep[], later: readonly FreeswitchStep[]): FreeswitchStep[] {
  const merged: FreeswitchStep[] = [];
  for (const step of [...earlier, ...later]) {
    if (step.kind === 'gateway_kill') {
      for (let i = merged.length - 1; i >= 0; i -= 1) {
        const previous = merged[i]!;
        if (previous.kind === 'gateway_start' && previous.gatewayUuid === step.gatewayUuid) merged.splice(i, 1);
      }
    }
    merged.push(step);
  }
  const lastPlace = new Map<string, number>();
  merged.forEach((step, index) => lastPlace.set(stepIdentity(step), index));
  return merged.filter((step, index) => lastPlace.get(stepIdentity(step)) === index);
}

/** Independent of key order: steps read back from a jsonb column come with their keys reordered. */
function stepIdentity(step: FreeswitchStep): string {
  const fields = step as { kind: string; key?: string; profile?: string; gatewayUuid?: string; user?: string };
  return [fields.kind, fields.key ?? '', fields.profile ?? '', fields.gatewayUuid ?? '', fields.user ?? ''].join('\u0000');
}
