import { applyFreeswitchSide, cacheOptionsFromConfig, type CacheOptions, type FreeswitchStep } from '@ictvoip/fusionpbx';
import type { ApiDeps } from '../../deps';
import { EventSocketUnavailableError, isEslFailure } from './domain-errors';

/** Races `work` against the API's event-socket deadline, so a slow FreeSWITCH is a 503, never a hang. */
export async function withEslDeadline<T>(deps: ApiDeps, work: () => Promise<T>): Promise<T> {
  if (deps.esl === undefined) throw new EventSocketUnavailableError('not configured');
  const ms = deps.config.api.eslDeadlineMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new EventSocketUnavailableError(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function cacheOptionsFrom(deps: ApiDeps): CacheOptions {
  return cacheOptionsFromConfig(deps.config);
}

export interface FreeswitchOutcome {
  applied: boolean;
  /** Set when FusionPBX is committed but FreeSWITCH was not reached: repeat the same request to apply. */
  message?: string;
}

/**
 * Applies the FreeSWITCH side of a committed write. The database part is already committed; a
 * down event socket is reported (the caller answers 202), and every step is idempotent, so
 * repeating the same request applies it later.
 */
export async function applyAfterWrite(deps: ApiDeps, steps: FreeswitchStep[]): Promise<FreeswitchOutcome> {
  if (steps.length === 0) return { applied: true };
  try {
    await withEslDeadline(deps, () => applyFreeswitchSide(deps.esl, steps, { cache: cacheOptionsFrom(deps) }));
    return { applied: true };
  } catch (error) {
    if (!isEslFailure(error) && !(error instanceof Error && 'code' in error)) throw error;
    deps.logger.warn({ err: (error as Error).message, steps: steps.length }, 'FreeSWITCH side not applied after API write');
    return { applied: false, message: `FusionPBX is updated; FreeSWITCH not yet (${(error as Error).message}). Repeat the request to apply it.` };
  }
}
