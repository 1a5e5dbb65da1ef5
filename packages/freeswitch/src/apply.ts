import { type CacheOptions, cacheDeleteCommand, deleteCacheKey } from './cache';
import type { EslClient } from './esl/client';
import { EslCommandError } from './esl/errors';
import { type FreeswitchStep, validateStep } from './freeswitch-steps';
import { validateSwitchname } from './validate';

export interface ApplyOptions {
  cache: CacheOptions;
}

export interface ApplyResult {
  /** Every action taken, in order (ESL commands without the `api ` prefix, or `unlink <file>`). */
  actions: string[];
}

const GATEWAY_NOT_RUNNING = /no such gateway|invalid gateway/i;
const GATEWAY_ALREADY_RUNNING = /already exists|already running/i;

async function switchname(esl: EslClient): Promise<string> {
  return validateSwitchname((await esl.api('switchname')).trim(), 'switchname reply');
}

async function applyStep(esl: EslClient, options: ApplyOptions, step: FreeswitchStep, resolveSwitchname: () => Promise<string>): Promise<string> {
  switch (step.kind) {
    case 'cache_delete':
      return deleteCacheKey(esl, options.cache, step.key);
    case 'sofia_conf_cache_delete':
      return deleteCacheKey(esl, options.cache, `configuration:sofia.conf:${await resolveSwitchname()}`);
    case 'sofia_rescan': {
      const command = `sofia profile ${step.profile} rescan`;
      await esl.api(command);
      return command;
    }
    case 'gateway_kill':
      return tolerant(esl, `sofia profile ${step.profile} killgw ${step.gatewayUuid}`, GATEWAY_NOT_RUNNING);
    case 'gateway_start':
      return tolerant(esl, `sofia profile ${step.profile} startgw ${step.gatewayUuid}`, GATEWAY_ALREADY_RUNNING);
    case 'flush_registration': {
      const command = `sofia profile ${step.profile} flush_inbound_reg ${step.user} reboot`;
      await esl.api(command);
      return command;
    }
    case 'reload_acl':
      // FreeSWITCH answers "+OK acl reloaded" or "-ERR Acl reload failed"; esl.api throws on -ERR.
      await esl.api('reloadacl');
      return 'reloadacl';
  }
}

async function tolerant(esl: EslClient, command: string, acceptable: RegExp): Promise<string> {
  const body = await esl.api(command, { allowErr: true });
  if (body.startsWith('-ERR') && !acceptable.test(body)) throw new EslCommandError(command, body);
  return command;
}

/**
 * Applies the FreeSWITCH side of a committed provisioning action. Every step is validated before the
 * first command is sent; each step is idempotent, so after a failure the caller retries the whole list.
 */
export async function applyFreeswitchSide(esl: EslClient, steps: FreeswitchStep[], options: ApplyOptions): Promise<ApplyResult> {
  steps.forEach(validateStep);
  let cachedSwitchname: Promise<string> | null = null;
  const resolveSwitchname = () => (cachedSwitchname ??= switchname(esl));
  const actions: string[] = [];
  for (const step of steps) {
    if (step.kind === 'sofia_conf_cache_delete' && cachedSwitchname === null) actions.push('switchname');
    actions.push(await applyStep(esl, options, step, resolveSwitchname));
  }
  return { actions };
}

/** What the dry-run shows for the sofia.conf cache key: the switchname is only known by asking FreeSWITCH. */
export const SWITCHNAME_PLACEHOLDER = '{switchname}';

function stepCommand(options: ApplyOptions, step: FreeswitchStep): string {
  switch (step.kind) {
    case 'cache_delete':
      return cacheDeleteCommand(options.cache, step.key);
    case 'sofia_conf_cache_delete':
      return cacheDeleteCommand(options.cache, `configuration:sofia.conf:${SWITCHNAME_PLACEHOLDER}`);
    case 'sofia_rescan':
      return `sofia profile ${step.profile} rescan`;
    case 'gateway_kill':
      return `sofia profile ${step.profile} killgw ${step.gatewayUuid}`;
    case 'gateway_start':
      return `sofia profile ${step.profile} startgw ${step.gatewayUuid}`;
    case 'flush_registration':
      return `sofia profile ${step.profile} flush_inbound_reg ${step.user} reboot`;
    case 'reload_acl':
      return 'reloadacl';
  }
}

/**
 * The actions applyFreeswitchSide would take, in the same order and form as its `actions`, without
 * connecting to the event socket (dry-run). The sofia.conf key shows {switchname}.
 */
export function describeFreeswitchSide(steps: FreeswitchStep[], options: ApplyOptions): string[] {
  steps.forEach(validateStep);
  const actions: string[] = [];
  let askedSwitchname = false;
  for (const step of steps) {
    if (step.kind === 'sofia_conf_cache_delete' && !askedSwitchname) {
      actions.push('switchname');
      askedSwitchname = true;
    }
    actions.push(stepCommand(options, step));
  }
  return actions;
}
