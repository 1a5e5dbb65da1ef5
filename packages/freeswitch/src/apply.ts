import { type CacheDeletePlan, type CacheOptions, cacheDeletePlan, unlinkCacheFile } from './cache';
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

/** One event-socket command and the -ERR replies that still mean done (null: any -ERR is a failure). */
type EslCommandPlan = { command: string; tolerated: RegExp | null };

/** What the dry-run shows for the sofia.conf cache key: the switchname is only known by asking FreeSWITCH. */
export const SWITCHNAME_PLACEHOLDER = '{switchname}';

function stepPlan(options: ApplyOptions, step: FreeswitchStep, switchname: string): EslCommandPlan | CacheDeletePlan {
  switch (step.kind) {
    case 'cache_delete':
      return cacheDeletePlan(options.cache, step.key);
    case 'sofia_conf_cache_delete':
      return cacheDeletePlan(options.cache, `configuration:sofia.conf:${switchname}`);
    case 'sofia_rescan':
      return { command: `sofia profile ${step.profile} rescan`, tolerated: null };
    case 'gateway_kill':
      return { command: `sofia profile ${step.profile} killgw ${step.gatewayUuid}`, tolerated: GATEWAY_NOT_RUNNING };
    case 'gateway_start':
      return { command: `sofia profile ${step.profile} startgw ${step.gatewayUuid}`, tolerated: GATEWAY_ALREADY_RUNNING };
    case 'flush_registration':
      return { command: `sofia profile ${step.profile} flush_inbound_reg ${step.user} reboot`, tolerated: null };
    case 'reload_acl':
      // FreeSWITCH answers "+OK acl reloaded" or "-ERR Acl reload failed".
      return { command: 'reloadacl', tolerated: null };
  }
}

async function askSwitchname(esl: EslClient): Promise<string> {
  return validateSwitchname((await esl.api('switchname')).trim(), 'switchname reply');
}

/** Sends the commands back to back on one connection (FreeSWITCH answers in order) and checks each reply. */
async function sendPipelined(esl: EslClient, batch: EslCommandPlan[]): Promise<void> {
  if (batch.length === 0) return;
  const bodies = await esl.apiPipelined(batch.map((planned) => planned.command));
  batch.forEach(({ command, tolerated }, index) => {
    const body = bodies[index];
    if (body.startsWith('-ERR') && !tolerated?.test(body)) throw new EslCommandError(command, body);
  });
}

/**
 * Applies the FreeSWITCH side of a committed provisioning action. Every step is validated before the
 * first command is sent. Commands go out pipelined, in order, with one round trip per run of commands
 * (the switchname question and local cache unlinks split runs). Each step is idempotent, so after a
 * failure the caller retries the whole list; a failed command does not stop the ones already sent after it.
 */
export async function applyFreeswitchSide(esl: EslClient, steps: FreeswitchStep[], options: ApplyOptions): Promise<ApplyResult> {
  steps.forEach(validateStep);
  const actions: string[] = [];
  let switchname: string | null = null;
  let batch: EslCommandPlan[] = [];
  const flush = async () => {
    await sendPipelined(esl, batch);
    actions.push(...batch.map((planned) => planned.command));
    batch = [];
  };
  for (const step of steps) {
    if (step.kind === 'sofia_conf_cache_delete' && switchname === null) {
      await flush();
      switchname = await askSwitchname(esl);
      actions.push('switchname');
    }
    const plan = stepPlan(options, step, switchname ?? SWITCHNAME_PLACEHOLDER);
    if ('unlink' in plan) {
      await flush();
      await unlinkCacheFile(plan.unlink);
      actions.push(`unlink ${plan.unlink}`);
      continue;
    }
    batch.push(plan);
  }
  await flush();
  return { actions };
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
    const plan = stepPlan(options, step, SWITCHNAME_PLACEHOLDER);
    actions.push('unlink' in plan ? `unlink ${plan.unlink}` : plan.command);
  }
  return actions;
}
