import { withDeadline } from '@ictvoip/config';
import type { ScopedApiDeps } from '../../deps';
import { EventSocketUnavailableError } from './domain-errors';

/** Races `work` against the API's event-socket deadline, so a slow FreeSWITCH is a 503, never a hang. */
export async function withEslDeadline<T>(deps: ScopedApiDeps, work: () => Promise<T>): Promise<T> {
  const ms = deps.config.api.eslDeadlineMs;
  return withDeadline(work(), ms, () => new EventSocketUnavailableError(`no answer within ${ms} ms`));
}
