/**
 * A paced, open-loop load of signed webhook events: request i is due at t0 + i/rate whatever the
 * server is doing, and its latency runs from that due time to the end of its answer, so a slow
 * answer (or a late send) is charged to the requests it delays: no coordinated omission.
 * autocannon's `overallRate` is a per-connection budget refilled every second, sent back to back,
 * which is a burst at the start of each second, not this (see docs/benchmarks.md).
 *
 * The client shares the 2 cores with the server under test, so it is lean (h148): every request's
 * bytes (a new signed `create` event each) are built before the first is due, each is one write on a
 * raw keep-alive socket (one request in flight per socket), and of an answer only the status line and
 * Content-Length are read. `node:http` cost about 0.3–0.4 ms of CPU a request here (the A/B,
 * bench/ingest/paced-client-ab.ts with the old client, is in git at 71a2c46).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { signedCreateRequest, type LoadResult } from './load';
import { round } from './stats';

export interface PacedLoadOptions {
  url: string;
  secret: string;
  /** Requests per second, spread evenly. */
  rate: number;
  durationSeconds: number;
  /** Service ids are drawn from this range so every run writes distinct services. */
  firstServiceId: number;
  /** Keep-alive sockets the client may open; enough that a slow answer never holds back a send. */
  maxSockets?: number;
  timeoutMs?: number;
}

export interface PacedLoadResult extends LoadResult {
  /** Requests scheduled (= rate × duration). */
  scheduled: number;
  /** Requests sent (written) more than LATE_SEND_MS after their due time, by the client's own timer or for want of a free socket. */
  lateSends: number;
  maxSendLagMs: number;
  /** p99 of the send lag: how much of the latency p99 could be the client's own. */
  sendLagP99Ms: number;
  /** Requests that found every allowed socket busy at their due time and had to wait for one. */
  waitedForSocket: number;
  /** Errors by code (ECONNRESET, ECONNREFUSED, 'cut short'…), so a failed run says what failed. Timeouts are not errors here: see `timeouts`. */
  errorCodes: Record<string, number>;
  /** Most requests in flight at once (≈ sockets open). */
  maxInFlight: number;
  /** Requests sent per second from the first due time to the last send: the pace the client kept. */
  sentPerSecond: number;
}

/** A send more than this after its due time counts as late (the timer's own granularity is about 1 ms). */
export const LATE_SEND_MS = 2;

/** Percentile of an ascending-sorted sample, nearest rank. */
export function rankOf(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

/** The bytes of every request of a round, built before it starts (signing is not the client's cost under load). */
export function signedRequestBytes(url: URL, secret: string, firstServiceId: number, count: number): Buffer[] {
  const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n`;
  const requests: Buffer[] = [];
  for (let index = 0; index < count; index += 1) {
    const { body, headers } = signedCreateRequest(secret, firstServiceId + index);
    const text =
      `${head}X-Ictvoip-Timestamp: ${headers['x-ictvoip-timestamp']}\r\nX-Ictvoip-Signature: ${headers['x-ictvoip-signature']}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    requests.push(Buffer.from(text, 'utf8'));
  }
  return requests;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

/** What an answer's head says: its status, how many body bytes follow, and whether the server closes after it. */
interface Head {
  status: number;
  bodyLength: number;
  headLength: number;
  closes: boolean;
}

/** The head of an answer once it is all in `data`; null while it is not; 'unframed' when its length is not a Content-Length. */
function readHead(data: Buffer): Head | null | 'unframed' {
  const end = data.indexOf(HEADER_END);
  if (end < 0) return null;
  // Only the head is decoded: "HTTP/1.1 202 Accepted\r\n...".
  const head = data.toString('latin1', 0, end);
  const length = CONTENT_LENGTH.exec(head);
  if (!length) return 'unframed';
  return { status: Number(head.slice(9, 12)), bodyLength: Number(length[1]), headLength: end + 4, closes: CONNECTION_CLOSE.test(head) };
}

interface Connection {
  socket: Socket;
  /** The request in flight on it (one at a time: no pipelining), -1 when idle. */
  index: number;
  data: Buffer | null;
  head: Head | null;
  gone: boolean;
}

export async function runPacedSignedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const target = new URL('/webhooks/whmcs', options.url);
  const maxSockets = options.maxSockets ?? 512;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const scheduled = Math.round(options.rate * options.durationSeconds);
  const intervalMs = 1000 / options.rate;
  const requests = signedRequestBytes(target, options.secret, options.firstServiceId, scheduled);
  const latencies = new Float64Array(scheduled);
  const sendLags = new Float64Array(scheduled);
  const sentAt = new Float64Array(scheduled);
  let sent = 0;
  const statusCodes: Record<string, number> = {};
  let answered = 0;
  let non2xx = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
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
  const dueOf = (index: number) => t0 + index * intervalMs;
  let finish: () => void = () => undefined;
  const allSettled = new Promise<void>((resolve) => (finish = resolve));
  const settle = () => {
    settled += 1;
    inFlight -= 1;
    if (settled === scheduled) finish();
  };
  const failed = (code: string) => {
    errors += 1;
    errorCodes[code] = (errorCodes[code] ?? 0) + 1;
    settle();
  };

  const idle: Connection[] = [];
  const busy = new Set<Connection>();
  let open = 0;
  /** Requests due while every allowed socket was busy, oldest first. */
  const waiting: number[] = [];
  let waitingHead = 0;

  const write = (connection: Connection, index: number) => {
    connection.index = index;
    busy.add(connection);
    const at = performance.now();
    sentAt[index] = at;
    lastSend = Math.max(lastSend, at);
    const lag = at - dueOf(index);
    sendLags[sent] = lag;
    sent += 1;
    maxSendLagMs = Math.max(maxSendLagMs, lag);
    if (lag > LATE_SEND_MS) lateSends += 1;
    connection.socket.write(requests[index]!);
  };

  /** The connection is free again: the oldest waiting request goes out on it, else it idles. */
  const release = (connection: Connection) => {
    busy.delete(connection);
    connection.index = -1;
    connection.data = null;
    connection.head = null;
    if (waitingHead < waiting.length) write(connection, waiting[waitingHead++]!);
    else idle.push(connection);
  };

  /** The socket is gone (closed by the server, an error, a timeout): its request, if any, ends with `code`. */
  const drop = (connection: Connection, code: string) => {
    if (connection.gone) return;
    connection.gone = true;
    const index = connection.index;
    connection.index = -1;
    busy.delete(connection);
    const at = idle.indexOf(connection);
    if (at >= 0) idle.splice(at, 1);
    open -= 1;
    connection.socket.destroy();
    if (index >= 0) failed(code);
    // A request waiting for a socket gets a new one in place of this.
    if (waitingHead < waiting.length) write(newConnection(), waiting[waitingHead++]!);
  };

  const onData = (connection: Connection, chunk: Buffer) => {
    let data = connection.data ? Buffer.concat([connection.data, chunk]) : chunk;
    for (;;) {
      if (connection.index < 0) return drop(connection, 'answer without a request');
      if (!connection.head) {
        const head = readHead(data);
        if (head === 'unframed') return drop(connection, 'answer without Content-Length');
        if (head === null) {
          connection.data = data;
          return;
        }
        connection.head = head;
      }
      const { status, bodyLength, headLength, closes } = connection.head;
      if (data.length < headLength + bodyLength) {
        connection.data = data;
        return;
      }
      const end = performance.now();
      const index = connection.index;
      lastEnd = Math.max(lastEnd, end);
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status < 200 || status > 299) non2xx += 1;
      latencies[answered] = end - dueOf(index);
      answered += 1;
      settle();
      const rest = data.subarray(headLength + bodyLength);
      if (closes) {
        connection.index = -1;
        return drop(connection, 'closed');
      }
      release(connection);
      if (rest.length === 0) return;
      data = rest;
    }
  };

  const newConnection = (): Connection => {
    const socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
    const connection: Connection = { socket, index: -1, data: null, head: null, gone: false };
    open += 1;
    socket.on('data', (chunk: Buffer) => onData(connection, chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => drop(connection, error.code ?? 'socket error'));
    // An answer cut short (the server closed mid-answer, or between answers with one in flight).
    socket.on('close', () => drop(connection, 'cut short'));
    return connection;
  };

  const send = (index: number) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const connection = idle.pop();
    if (connection) return write(connection, index);
    if (open < maxSockets) return write(newConnection(), index);
    waitedForSocket += 1;
    waiting.push(index);
  };

  // An overloaded server under an open loop queues requests for seconds: that is a result, not a
  // broken run. A request with no answer after timeoutMs stays in the sample at its time so far (a
  // lower bound) and is counted; its socket is closed. One sweep a second instead of a timer a request.
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of [...busy]) {
      const index = connection.index;
      if (index < 0 || now - sentAt[index]! < timeoutMs) continue;
      timeouts += 1;
      latencies[answered] = now - dueOf(index);
      answered += 1;
      settle();
      connection.index = -1;
      drop(connection, 'timeout');
    }
  }, 1000);

  // One timer to the next due time, sending everything already due: at 1,000 req/s with a 1 ms timer
  // granularity that is one or two requests a tick, and a stalled loop catches up (and is counted late).
  const tick = () => {
    const now = performance.now();
    while (next < scheduled && dueOf(next) <= now) send(next++);
    if (next < scheduled) setTimeout(tick, Math.max(0, dueOf(next) - performance.now()));
  };
  if (scheduled === 0) finish();
  else setTimeout(tick, Math.max(0, t0 - performance.now()));
  await allSettled;
  clearInterval(sweep);
  for (const connection of [...idle, ...busy]) connection.socket.destroy();

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
