import { performance } from 'node:perf_hooks';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { FINISH_CHANNELS, FINISH_LISTENER_APPLICATION_NAME, FinishListener, type InboxEvent } from '@ictvoip/store';
import { waitForRow } from '../src/enqueue';
import { startTestApi, type TestApi } from './harness';

/**
 * `?wait=` answered on the finishing commit's notification. No worker runs: the test finishes the
 * inbox row itself, through the same repository statement the worker uses. The fallback poll is a
 * minute, longer than any wait here: an answer before it can only have come from the notification.
 */
const FALLBACK_POLL_MS = 60_000;
/** Far below the fallback poll and the 10 s wait, far above the few ms it takes on an idle box. */
const PROMPT_MS = 1500;

let t: TestApi;
const listener = () => t.api.deps.finishes as FinishListener;

/** Waits for a state of the running API (re-checked every few ms), failing after `timeoutMs`. */
async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A request in flight, with the moment its answer arrived. */
function tracked<T>(request: Promise<T>) {
  const state: { settled: boolean; at: number; value?: T } = { settled: false, at: 0 };
  const done = request.then((value) => {
    Object.assign(state, { settled: true, at: performance.now(), value });
    return value;
  });
  return Object.assign(state, { done });
}

function waitingPost(event: Record<string, unknown>, wait = 10, signal?: AbortSignal) {
  return tracked(postWebhook(t.url, JSON.stringify(event), { query: `?wait=${wait}`, signal }));
}

/** Finishes the event as a worker does (the statement that notifies) and returns when it committed. */
async function finish(eventId: string): Promise<number> {
  expect(await t.api.deps.inbox.markSucceeded(eventId, { message: 'created', serviceProperties: { pbxDomain: 'x.example.net' } })).toBe(true);
  return performance.now();
}

async function lossCount(): Promise<number> {
  const metric = await t.api.deps.metrics!.registry.getSingleMetric('ictvoip_api_finish_listener_losses_total')!.get();
  return metric.values[0]?.value ?? 0;
}

const terminateListeners = () =>
  t.api.deps.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [FINISH_LISTENER_APPLICATION_NAME]);

beforeAll(async () => {
  t = await startTestApi({ API_WAIT_FALLBACK_POLL_MS: String(FALLBACK_POLL_MS) });
  await until(() => listener().listening, 'the API to listen');
});
afterAll(async () => {
  await t.close();
});

describe('?wait= answered on the finishing commit', () => {
  it('answers within a few ms of the commit, long before the fallback poll', async () => {
    const event = buildEvent();
    const answer = waitingPost(event);
    await until(() => listener().waiting === 1, 'the request to wait');
    const committedAt = await finish(event.eventId as string);
    const reply = await answer.done;
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ result: 'success', eventId: event.eventId, serviceProperties: { pbxDomain: 'x.example.net' } });
    expect(answer.at - committedAt).toBeLessThan(PROMPT_MS);
    expect(listener().waiting).toBe(0);
  });

  it("answers each waiter on its own event's commit only, and every waiter of one event", async () => {
    const [a, b] = [buildEvent(), buildEvent()];
    const answerA = waitingPost(a);
    await until(() => listener().waiting === 1, 'the first request to wait');
    // The same event delivered twice: two requests wait on one id.
    const answersB = [waitingPost(b), waitingPost(b)];
    await until(() => listener().waiting === 3, 'all three requests to wait');
    const committedB = await finish(b.eventId as string);
    for (const reply of await Promise.all(answersB.map((answer) => answer.done))) expect(reply.body).toMatchObject({ result: 'success', eventId: b.eventId });
    for (const answer of answersB) expect(answer.at - committedB).toBeLessThan(PROMPT_MS);
    expect(answerA.settled).toBe(false);
    expect(listener().waiting).toBe(1);
    const committedA = await finish(a.eventId as string);
    expect((await answerA.done).body).toMatchObject({ result: 'success', eventId: a.eventId });
    expect(answerA.at - committedA).toBeLessThan(PROMPT_MS);
  });

  it('stops waiting and unsubscribes when the client goes away', async () => {
    const controller = new AbortController();
    const answer = waitingPost(buildEvent(), 25, controller.signal);
    const failed = answer.done.then(
      () => null,
      (error: Error) => error,
    );
    await until(() => listener().waiting === 1, 'the request to wait');
    controller.abort();
    // Well inside the 25 s the request asked for.
    await until(() => listener().waiting === 0, 'the waiter to unsubscribe', 5000);
    expect((await failed)?.name).toBe('AbortError');
  });

  it('still answers when the LISTEN connection is terminated mid-wait; the listener reconnects and answers by notification again', async () => {
    const losses = await lossCount();
    const event = buildEvent();
    const answer = waitingPost(event);
    await until(() => listener().waiting === 1, 'the request to wait');
    expect((await terminateListeners()).rowCount).toBe(1);
    await finish(event.eventId as string);
    // Answered by the fast poll while the listener was down, or by the wake-up of its reconnect.
    expect((await answer.done).body).toMatchObject({ result: 'success', eventId: event.eventId });
    await until(async () => (await lossCount()) === losses + 1 && listener().listening, 'the listener to reconnect');
    const warnings = t.logLines.filter((line) => line.includes('"level":40')).join('\n');
    expect(warnings).toMatch(/finish listener lost its connection/);
    expect(warnings).toMatch(/finish listener reconnected/);
    expect(warnings).not.toContain(t.config.database.url);

    const later = buildEvent();
    const laterAnswer = waitingPost(later);
    await until(() => listener().waiting === 1, 'the later request to wait');
    const committedAt = await finish(later.eventId as string);
    expect((await laterAnswer.done).body).toMatchObject({ result: 'success', eventId: later.eventId });
    expect(laterAnswer.at - committedAt).toBeLessThan(PROMPT_MS);
  });
});

describe('waitForRow without a listening connection', () => {
  it('polls fast while the listener is down, so nothing depends on the notification', async () => {
    let lost: () => void = () => undefined;
    const down = new Promise<void>((resolve) => (lost = resolve));
    let up: () => void = () => undefined;
    const listening = new Promise<void>((resolve) => (up = resolve));
    const quiet = { info: () => undefined, warn: () => undefined };
    // A first retry a minute away: for the rest of this test it stays down.
    const own = new FinishListener({ connectionString: t.config.database.url, log: quiet, firstRetryMs: 60_000, onState: (state) => (state === 'lost' ? lost() : up()) });
    own.start();
    try {
      await listening;
      const event = buildEvent();
      const stored = await postWebhook(t.url, JSON.stringify(event));
      expect(stored.status).toBe(202);
      const eventId = event.eventId as string;
      const notification = { wakeups: own, channel: FINISH_CHANNELS.inbox, id: eventId, fallbackPollMs: FALLBACK_POLL_MS };
      const finished = (row: InboxEvent) => row.status === 'succeeded';
      const waited = tracked(waitForRow(() => t.api.deps.inbox.get(eventId), finished, 20_000, { notification }));
      await until(() => own.waiting === 1, 'the waiter to subscribe');
      // Terminates the API's listener too; it reconnects on its own, this one does not for a minute.
      await terminateListeners();
      await down;
      const committedAt = await finish(eventId);
      expect((await waited.done)?.status).toBe('succeeded');
      expect(own.listening).toBe(false);
      expect(waited.at - committedAt).toBeLessThan(PROMPT_MS);
    } finally {
      await own.close();
    }
    await until(() => listener().listening, "the API's listener to be back");
  });
});
