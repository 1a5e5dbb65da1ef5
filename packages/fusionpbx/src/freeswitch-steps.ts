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
  | { kind: 'flush_registration'; profile: string; user: string };

/** Throws FusionpbxValidationError when a step carries something that could break out of its command. */
export function validateStep(step: FreeswitchStep): FreeswitchStep {
  switch (step.kind) {
    case 'cache_delete':
      validateCacheKey(step.key, 'step.key');
      return step;
    case 'sofia_conf_cache_delete':
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
