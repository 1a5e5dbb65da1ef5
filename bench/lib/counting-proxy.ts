import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP pass-through that counts what a client asks a server, read off the wire (nothing in the
 * client changes): PostgreSQL statements (frontend `Query` and `Execute` messages) or Redis commands
 * (RESP arrays). `BENCH_PROTOCOL_COUNTS=1` puts one in front of the worker's databases and Redis, to
 * count per tenant what a provisioning run asks of each. Bytes pass through unchanged; the counting
 * runs in the bench process, so it adds to neither the worker's CPU nor the server's.
 */
export type WireProtocol = 'postgres' | 'redis';

export interface ProtocolCounts {
  /** PostgreSQL: Query + Execute messages; Redis: commands. */
  statements: number;
  /** PostgreSQL: Sync + Query messages (each one round trip the client waits on); Redis: TCP reads that held commands. */
  roundTrips: number;
  connections: number;
  /** By first word (PostgreSQL simple queries only; Redis: the command name). */
  byKind: Map<string, number>;
}

/** Counts PostgreSQL frontend messages after the untyped start-up message (and an SSLRequest, which the bench never sends). */
function postgresCounter(counts: ProtocolCounts): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (!started) {
        if (pending.length < 4) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        started = true;
        pending = pending.subarray(length);
        continue;
      }
      if (pending.length < 5) return;
      const type = String.fromCharCode(pending[0]!);
      const length = pending.readInt32BE(1);
      if (pending.length < 1 + length) return;
      if (type === 'Q') {
        counts.statements += 1;
        counts.roundTrips += 1;
        const text = pending.subarray(5, 1 + length - 1).toString('utf8');
        const kind = text.trim().split(/\s+/, 1)[0]!.toUpperCase();
        counts.byKind.set(kind, (counts.byKind.get(kind) ?? 0) + 1);
      } else if (type === 'P') {
        // Parse: statement name, then the query text; the kind is its first words (who asks what).
        const body = pending.subarray(5, 1 + length);
        const text = body.subarray(body.indexOf(0) + 1, body.indexOf(0, body.indexOf(0) + 1)).toString('utf8');
        const kind = text.replace(/\s+/g, ' ').trim().slice(0, 70);
        counts.byKind.set(kind, (counts.byKind.get(kind) ?? 0) + 1);
      } else if (type === 'E') {
        counts.statements += 1;
      } else if (type === 'S') {
        counts.roundTrips += 1;
      }
      pending = pending.subarray(1 + length);
    }
  };
}

/** Counts RESP arrays (`*N` then N bulk strings); inline commands are not used by ioredis. */
function redisCounter(counts: ProtocolCounts): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('latin1');
    let sawCommand = false;
    for (;;) {
      const start = parseArray(pending);
      if (!start) break;
      counts.statements += 1;
      sawCommand = true;
      counts.byKind.set(start.name, (counts.byKind.get(start.name) ?? 0) + 1);
      pending = pending.slice(start.end);
    }
    if (sawCommand) counts.roundTrips += 1;
  };
}

function parseArray(text: string): { name: string; end: number } | null {
  if (!text.startsWith('*')) return null;
  let at = text.indexOf('\r\n');
  if (at < 0) return null;
  const items = Number(text.slice(1, at));
  at += 2;
  let name = '';
  for (let item = 0; item < items; item += 1) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = Number(text.slice(at + 1, lineEnd));
    const end = lineEnd + 2 + size + 2;
    if (text.length < end) return null;
    if (item === 0) name = text.slice(lineEnd + 2, lineEnd + 2 + size).toUpperCase();
    at = end;
  }
  return { name, end: at };
}

export interface CountingProxy {
  port: number;
  counts: ProtocolCounts;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(protocol: WireProtocol, target: { host: string; port: number }): Promise<CountingProxy> {
  const counts: ProtocolCounts = { statements: 0, roundTrips: 0, connections: 0, byKind: new Map() };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    counts.connections += 1;
    const upstream = connect(target);
    sockets.add(client).add(upstream);
    const count = protocol === 'postgres' ? postgresCounter(counts) : redisCounter(counts);
    client.on('data', (chunk: Buffer) => {
      count(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('counting proxy: no port');
  return {
    port: address.port,
    counts,
    reset() {
      counts.statements = 0;
      counts.roundTrips = 0;
      counts.byKind.clear();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The same URL with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: CountingProxy): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.toString();
}
