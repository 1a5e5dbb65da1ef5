import type { Pool, PoolClient } from 'pg';
import type { FreeswitchStep } from '@ictvoip/freeswitch';
import { serviceLockKey, statusesOfDomains } from './tenant-state';

const CALLS_OFF = new Set(['suspended', 'terminated']);

/**
 * Drops the `hangup_calls` steps whose tenant is no longer suspended or terminated: after an
 * unsuspend (or its domain's purge) the calls up are the customer's paid-for calls again.
 */
export async function withoutStaleHangups(db: Pool | PoolClient, steps: FreeswitchStep[]): Promise<FreeswitchStep[]> {
  const domains = [...new Set(steps.flatMap((step) => (step.kind === 'hangup_calls' ? [step.domain] : [])))];
  if (domains.length === 0) return steps;
  const statuses = await statusesOfDomains(db, domains);
  return steps.filter((step) => step.kind !== 'hangup_calls' || CALLS_OFF.has(statuses.get(step.domain) ?? 'unknown'));
}

/**
 * Sends the service's steps through `send`, the hangups last and only while the tenant is still
 * suspended or terminated. A suspend's hangup can wait in the backlog through hours of event-socket
 * outage, and the client cannot take back a command once queued (it reconnects and sends it late):
 * so the hangups are checked holding the tenant's FusionPBX service lock, the one every suspend and
 * unsuspend commits under, until FreeSWITCH has answered them. An unsuspend committing meanwhile
 * waits for those commands (the listing and its kills), instead of its customer's new calls being cut. The lock is taken only
 * once FreeSWITCH has answered the other steps: an outage fails the send before it, so it never holds
 * up the database side of the service's next events (a suspend always has other steps: its cache
 * deletes). Returns how many steps were sent.
 */
export async function sendWithCurrentHangups(pool: Pool, serviceId: number | string, steps: FreeswitchStep[], send: (steps: FreeswitchStep[]) => Promise<void>): Promise<number> {
  const hangups = steps.filter((step) => step.kind === 'hangup_calls');
  const others = steps.filter((step) => step.kind !== 'hangup_calls');
  if (others.length > 0 || hangups.length === 0) await send(others);
  if (hangups.length === 0) return others.length;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [serviceLockKey(String(serviceId))]);
    const current = await withoutStaleHangups(client, hangups);
    if (current.length > 0) await send(current);
    return others.length + current.length;
  } finally {
    // Read-only: ending it releases the lock.
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}
