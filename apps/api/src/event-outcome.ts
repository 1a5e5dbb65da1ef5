import type { InboxEvent, InboxRepository } from '@ictvoip/store';

export type EventReply =
  | { status: 200; body: { result: 'success'; message: string; serviceProperties: Record<string, unknown>; eventId: string } }
  | { status: 200; body: { result: 'error'; message: string; retryable: boolean; eventId: string } }
  | { status: 202; body: { result: 'pending'; eventId: string; jobId: string | null; statusUrl: string; state: string } };

export function statusUrlFor(eventId: string): string {
  return `/webhooks/whmcs/events/${eventId}`;
}

/** What WHMCS is told about an event, from its inbox row alone (so any API process answers alike). */
export function replyFor(event: InboxEvent): EventReply {
  if (event.status === 'succeeded') {
    const result = event.result ?? {};
    return {
      status: 200,
      body: {
        result: 'success',
        message: typeof result.message === 'string' ? result.message : 'done',
        serviceProperties: (result.serviceProperties as Record<string, unknown> | undefined) ?? {},
        eventId: event.eventId,
      },
    };
  }
  if (event.status === 'failed') {
    return { status: 200, body: { result: 'error', message: event.lastError ?? 'failed', retryable: event.retryable ?? false, eventId: event.eventId } };
  }
  return { status: 202, body: { result: 'pending', eventId: event.eventId, jobId: event.jobId, statusUrl: statusUrlFor(event.eventId), state: event.status } };
}

/** Polls the inbox until the event is finished or the deadline passes (works across API processes). */
export function waitForOutcome(inbox: InboxRepository, eventId: string, waitSeconds: number, signal?: AbortSignal): Promise<InboxEvent | null> {
  return pollUntil(
    () => inbox.get(eventId),
    (event) => event.status === 'succeeded' || event.status === 'failed',
    waitSeconds * 1000,
    { signal },
  );
}

export interface PollOptions {
  signal?: AbortSignal;
  /** The first pause; it doubles up to 100 ms. Default 20 ms. */
  firstDelayMs?: number;
}

/**
 * Reads `read()` until `done` says so or `waitMs` passes, the pause doubling from `firstDelayMs` up
 * to 100 ms: whoever waits on the answer (WHMCS, a REST client) is waiting now, and one read is one
 * indexed primary-key lookup. Works across API processes: the row is the truth.
 */
export async function pollUntil<T>(read: () => Promise<T | null>, done: (value: T) => boolean, waitMs: number, options: PollOptions = {}): Promise<T | null> {
  const deadline = Date.now() + waitMs;
  let delay = options.firstDelayMs ?? 20;
  let latest = await read();
  while (latest && !done(latest) && Date.now() < deadline && !options.signal?.aborted) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
    latest = await read();
  }
  return latest;
}
