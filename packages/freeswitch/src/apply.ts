/**
 * The FreeSWITCH side of a write, in one module: the validators for every value that reaches an
 * event-socket command, the steps a write leaves behind, the cache keys they clear, and applying them.
 */
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { hangUpDomainCalls, LIST_CHANNELS_COMMAND } from './calls';
import { FreeswitchValidationError } from './errors';
import type { EslClient } from './esl/client';
import { EslCommandError } from './esl/errors';

/**
 * Validators for every value that ends up inside an event-socket command or a cache key.
 * ESL is line-based: a space splits arguments and a newline starts a new command, so anything
 * outside a small ASCII alphabet is rejected rather than escaped.
 */

const FQDN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EXTENSION = /^[A-Za-z0-9_+*#.-]{1,64}$/;
const PROFILE = /^[A-Za-z0-9_.-]{1,64}$/;
const CACHE_KEY = /^[A-Za-z0-9_.:@+*#-]{1,255}$/;
const SWITCHNAME = /^[A-Za-z0-9_.-]{1,253}$/;
/** A FreeSWITCH hangup cause name (switch_channel_str2cause): upper-case words joined by `_`. */
const HANGUP_CAUSE = /^[A-Z][A-Z_]{0,63}$/;

/** Why `value` is refused, in words (the first problem found). */
export function describeBadCharacters(value: string): string {
  if (/[\r\n]/.test(value)) return 'contains a line break';
  if (/\s/.test(value)) return 'contains whitespace';
  if (/[^\x21-\x7e]/.test(value)) return 'contains non-ASCII or control characters';
  return 'contains characters that are not allowed';
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new FreeswitchValidationError(field, 'is required');
  return value;
}

/** A lower-cased fully qualified domain name (ASCII / punycode only, at least two labels). */
export function validateDomainName(value: unknown, field = 'domain'): string {
  const raw = requireString(field, value);
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new FreeswitchValidationError(field, `${describeBadCharacters(raw)}; use the punycode form of an international domain`);
  const name = raw.toLowerCase().replace(/\.$/, '');
  if (name.length > 253) throw new FreeswitchValidationError(field, 'is longer than 253 characters');
  const labels = name.split('.');
  if (labels.length < 2) throw new FreeswitchValidationError(field, 'must be a fully qualified domain name (at least two labels)');
  for (const label of labels) {
    if (!FQDN_LABEL.test(label)) throw new FreeswitchValidationError(field, `label "${label}" is not a valid DNS label (a-z, 0-9, inner "-")`);
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1])) throw new FreeswitchValidationError(field, 'must not be an IP address');
  return name;
}

function matchOrThrow(pattern: RegExp, field: string, value: unknown, hint: string): string {
  const text = requireString(field, value);
  if (!pattern.test(text)) throw new FreeswitchValidationError(field, `${describeBadCharacters(text)} (allowed: ${hint})`);
  return text;
}

export const validateExtension = (value: unknown, field = 'extension'): string => matchOrThrow(EXTENSION, field, value, 'A-Z a-z 0-9 _ + * # . -, up to 64');

export const validateUuid = (value: unknown, field = 'uuid'): string => matchOrThrow(UUID, field, typeof value === 'string' ? value.toLowerCase() : value, 'a lower-case UUID');

export const validateProfile = (value: unknown, field = 'profile'): string => matchOrThrow(PROFILE, field, value, 'A-Z a-z 0-9 _ . -');

export const validateCacheKey = (value: unknown, field = 'cache key'): string => matchOrThrow(CACHE_KEY, field, value, 'A-Z a-z 0-9 _ . : @ + * # -');

export const validateSwitchname = (value: unknown, field = 'switchname'): string => matchOrThrow(SWITCHNAME, field, value, 'A-Z a-z 0-9 _ . -');

export const validateHangupCause = (value: unknown, field = 'cause'): string => matchOrThrow(HANGUP_CAUSE, field, value, 'A-Z _, a FreeSWITCH hangup cause');

/** `<extension>@<domain>` as used by flush_inbound_reg and the directory cache key. */
export function validateUserAtDomain(value: unknown, field = 'user'): string {
  const text = requireString(field, value);
  const at = text.lastIndexOf('@');
  if (at <= 0) throw new FreeswitchValidationError(field, 'must be <extension>@<domain>');
  validateExtension(text.slice(0, at), field);
  validateDomainName(text.slice(at + 1), field);
  return text;
}

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
  | { kind: 'reload_acl' }
  /**
   * Ends the domain's calls in progress, emergency calls apart, as FusionPBX's active-calls page
   * does: `show channels as json`, then `uuid_kill <uuid> <cause>` for each channel whose context
   * (or presence_id's domain) is `domain`, except the legs of a call one of whose legs dials an
   * emergency number (see calls.ts). Sent only while the tenant is still suspended or terminated
   * (the worker checks at send time).
   */
  | { kind: 'hangup_calls'; domain: string; cause: string };

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
    case 'hangup_calls':
      validateDomainName(step.domain, 'step.domain');
      validateHangupCause(step.cause, 'step.cause');
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
  const fields = step as { kind: string; key?: string; profile?: string; gatewayUuid?: string; user?: string; domain?: string; cause?: string };
  return [fields.kind, fields.key ?? '', fields.profile ?? '', fields.gatewayUuid ?? '', fields.user ?? '', fields.domain ?? '', fields.cause ?? ''].join('\u0000');
}

/**
 * How the FusionPBX cache is cleared (reference §9). FusionPBX's default is the file cache in
 * /var/cache/fusionpbx, whose entries never expire.
 * - `memcache`: `api memcache delete <key>` (cache/method = memcache).
 * - `file-esl`: the file cache on the FreeSWITCH host, cleared through the shipped
 *   `app/servers/resources/clear_cache.lua` (`api lua … delete <file>`): works when the bridge runs elsewhere.
 * - `file`: the bridge runs on the FusionPBX host and unlinks `<location>/<file>` itself.
 */
export type CacheOptions = { method: 'memcache' } | { method: 'file-esl' } | { method: 'file'; location?: string };

export const DEFAULT_CACHE_LOCATION = '/var/cache/fusionpbx';

/** Lua cache.lua key2file(): ':' → '.', '\\' and '/' → '_'. */
export function cacheFileName(key: string): string {
  return key.replace(/:/g, '.').replace(/[\\/]/g, '_');
}

/** What deleting one key takes: an event-socket command (and the -ERR replies that mean "already gone"), or a local unlink. */
export type CacheDeletePlan = { command: string; tolerated: RegExp } | { unlink: string };

/** Plans the deletion of `key` without doing it (the key is validated by the caller, or is a dry-run placeholder). */
export function cacheDeletePlan(options: CacheOptions, key: string): CacheDeletePlan {
  if (options.method === 'memcache') return { command: `memcache delete ${key}`, tolerated: /not.?found/i };
  // The script writes nothing to the stream, so FreeSWITCH answers "-ERR no reply".
  if (options.method === 'file-esl') return { command: `lua app/servers/resources/clear_cache.lua delete ${cacheFileName(key)}`, tolerated: /no reply/i };
  return { unlink: path.join(options.location ?? DEFAULT_CACHE_LOCATION, cacheFileName(key)) };
}

/** The command deleteCacheKey would run for `key`, without running it (dry-run). */
export function cacheDeleteCommand(options: CacheOptions, key: string): string {
  const plan = cacheDeletePlan(options, key);
  return 'unlink' in plan ? `unlink ${plan.unlink}` : plan.command;
}

/** Removes a cache file; one that is already gone counts as removed. */
export async function unlinkCacheFile(file: string): Promise<void> {
  await unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** Deletes one key; a key that is already gone counts as success. Returns what was done (for logs/tests). */
export async function deleteCacheKey(esl: EslClient, options: CacheOptions, key: string): Promise<string> {
  validateCacheKey(key);
  const plan = cacheDeletePlan(options, key);
  if ('unlink' in plan) {
    await unlinkCacheFile(plan.unlink);
    return `unlink ${plan.unlink}`;
  }
  const body = await esl.api(plan.command, { allowErr: true });
  if (body.startsWith('-ERR') && !plan.tolerated.test(body)) throw new EslCommandError(plan.command, body);
  return plan.command;
}

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

function stepPlan(options: ApplyOptions, step: Exclude<FreeswitchStep, { kind: 'hangup_calls' }>, switchname: string): EslCommandPlan | CacheDeletePlan {
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

/** What the dry-run shows for a hangup's kills: which channels is only known by listing them. */
export function hangupCallsDescription(step: { domain: string; cause: string }): string[] {
  return [LIST_CHANNELS_COMMAND, `uuid_kill {each channel of ${step.domain}, emergency calls spared} ${step.cause}`];
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
    if (step.kind === 'hangup_calls') {
      // Its kills depend on what the listing answers: a round trip of its own.
      await flush();
      actions.push(...(await hangUpDomainCalls(esl, step.domain, step.cause)).actions);
      continue;
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
    if (step.kind === 'hangup_calls') {
      actions.push(...hangupCallsDescription(step));
      continue;
    }
    const plan = stepPlan(options, step, SWITCHNAME_PLACEHOLDER);
    actions.push('unlink' in plan ? `unlink ${plan.unlink}` : plan.command);
  }
  return actions;
}
