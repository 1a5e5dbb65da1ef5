/**
 * The paced load's first client (h141), on `node:http`: kept for the A/B of the client's own cost
 * (bench/ingest/paced-client-ab.ts); the bench drives bench/lib/paced-load.ts, same schedule and latency.
 *
 * A paced, open-loop load of signed webhook events: request i is due at t0 + i/rate whatever the
 * server is doing, and its latency runs from that due time to the end of its answer, so a slow
 * answer (or a late send) is charged to the requests it delays: no coordinated omission.
 * autocannon's `overallRate` is a per-connection budget refilled every second, sent back to back,
 * which is a burst at the start of each second, not this (see docs/benchmarks.md).
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { signedCreateRequest } from './load';
import { round } from './stats';
import { LATE_SEND_MS, rankOf, type PacedLoadOptions, type PacedLoadResult } from './paced-load';

export async function runPacedSignedLoadNodeHttp(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const target = new URL('/webhooks/whmcs', options.url);
  const maxSockets = options.maxSockets ?? 512;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const scheduled = Math.round(options.rate * options.durationSeconds);
  const intervalMs = 1000 / options.rate;
  const latencies = new Float64Array(scheduled);
  const sendLags = new Float64Array(scheduled);
  let sent = 0;
  const statusCodes: Record<string, number> = {};
  let answered = 0;
  let non2xx = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  const failed = (code: string) => {
    errors += 1;
    errorCodes[code] = (errorCodes[code] ?? 0) + 1;
  };
  let timeouts = 0;
  let settled = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let waitedForSocket = 0;
  let lateSends = 0;
  let maxSendLagMs = 0;
  let lastEnd = 0;
  let lastSend = 0;
  let next = 0;

  const t0 = performance.now() + 20;
  let finish: () => void = () => undefined;
  const allSettled = new Promise<void>((resolve) => (finish = resolve));
  const settle = () => {
    settled += 1;
    inFlight -= 1;
    if (settled === scheduled) finish();
  };

  const send = (index: number) => {
    const due = t0 + index * intervalMs;
    const { body, headers } = signedCreateRequest(options.secret, options.firstServiceId + index);
    if (inFlight >= maxSockets) waitedForSocket += 1;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let done = false;
    const once = (outcome: () => void) => {
      if (done) return;
      done = true;
      outcome();
      settle();
    };
    const req = request(target, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () =>
        once(() => {
          const end = performance.now();
          lastEnd = Math.max(lastEnd, end);
          const code = res.statusCode ?? 0;
          statusCodes[code] = (statusCodes[code] ?? 0) + 1;
          if (code < 200 || code > 299) non2xx += 1;
          latencies[answered] = end - due;
          answered += 1;
        }),
      );
      res.on('error', (error: NodeJS.ErrnoException) => once(() => failed(error.code ?? 'response error')));
      // An answer cut short after its headers ends in 'close' without 'end'.
      res.on('close', () => once(() => failed('cut short')));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      // An overloaded server under an open loop queues requests for seconds: that is a result, not a
      // broken run. The request stays in the sample at its time so far (a lower bound) and is counted.
      once(() => {
        timeouts += 1;
        latencies[answered] = performance.now() - due;
        answered += 1;
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => once(() => failed(error.code ?? 'request error')));
    // The lag that counts is the write's: a socket shortage delays it past the call.
    req.on('socket', () => {
      const at = performance.now();
      lastSend = Math.max(lastSend, at);
      const lag = at - due;
      sendLags[sent] = lag;
      sent += 1;
      maxSendLagMs = Math.max(maxSendLagMs, lag);
      if (lag > LATE_SEND_MS) lateSends += 1;
    });
    req.end(body);
  };

  // One timer to the next due time, sending everything already due: at 1,000 req/s with a 1 ms timer
  // granularity that is one or two requests a tick, and a stalled loop catches up (and is counted late).
  const tick = () => {
    const now = performance.now();
    while (next < scheduled && t0 + next * intervalMs <= now) send(next++);
    if (next < scheduled) setTimeout(tick, Math.max(0, t0 + next * intervalMs - performance.now()));
  };
  if (scheduled === 0) finish();
  else setTimeout(tick, Math.max(0, t0 - performance.now()));
  await allSettled;
  agent.destroy();

  const sorted = latencies.subarray(0, answered).sort();
  const total = answered - timeouts;
  const spanSeconds = (lastEnd - t0) / 1000;
  return {
    requestsPerSecond: spanSeconds > 0 ? total / spanSeconds : 0,
    sentPerSecond: lastSend > t0 ? (scheduled - 1) / ((lastSend - t0) / 1000) : 0,
    total,
    p50Ms: round(rankOf(sorted, 50), 2),
    p99Ms: round(rankOf(sorted, 99), 2),
    maxMs: round(rankOf(sorted, 100), 2),
    non2xx,
    errors,
    timeouts,
    statusCodes,
    errorCodes,
    scheduled,
    lateSends,
    maxSendLagMs: round(maxSendLagMs, 2),
    sendLagP99Ms: round(rankOf(sendLags.subarray(0, sent).sort(), 99), 2),
    waitedForSocket,
    maxInFlight,
  };
}
