/**
 * An operator's graceful shutdown (SIGTERM) ends when the api's and the worker's close() have released
 * every socket, server, child and ref'd timer they opened: one left behind keeps the process alive.
 * Here a whole bridge (api + worker with its schedulers) starts and closes in this process, and the
 * process's active resources must come back to what they were before it started.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Worker } from 'bullmq';
import { freePort } from '@ictvoip/testkit';
import { startBridge, waitFor } from './harness';

/** Handle-like resources by type (requests such as FSReqCallback finish on their own and are left out). */
function activeHandles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    if (/Req|Request|Callback/.test(type)) continue;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

/** The types of which more are active now than in `before`, with how many more. */
function extraHandles(before: Map<string, number>): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [type, count] of activeHandles()) {
    const more = count - (before.get(type) ?? 0);
    if (more > 0) extra[type] = more;
  }
  return extra;
}

test("api and worker close() leave no socket, server, child or ref'd timer behind", async () => {
  const before = activeHandles();
  const bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker();
  // Something is really open while it runs: the check below can fail.
  expect(Object.keys(extraHandles(before)).length).toBeGreaterThan(0);
  await bridge.close();
  // Sockets close a moment after their close() resolves (the FIN round trip): wait for it, bounded.
  const settled = await waitFor(async () => Object.keys(extraHandles(before)).length === 0, 5000, 'handles to close').catch(() => false);
  expect(settled ? {} : extraHandles(before)).toEqual({});
});

/** A redis-server of this test's own, so it can be killed under a running worker. */
async function startPrivateRedis(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const answers = () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
  await waitFor(async () => answers(), 10_000, 'redis-server to answer');
  return server;
}

async function kill(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

/** The statuses of a BullMQ Worker's two ioredis clients: the main one (shared) and its own blocking one. */
async function clientStatuses(worker: Worker): Promise<string[]> {
  const backend = worker.backend as unknown as { client: Promise<{ status: string }>; blockingClient?: Promise<{ status: string }> };
  const clients = await Promise.all([backend.client, backend.blockingClient]);
  return clients.map((client) => client?.status ?? 'none');
}

// Killed before the close, Redis either stays down or comes back while the Workers close: then
// their blocking clients, disconnected by BullMQ's close while reconnecting, never reconnect nor end.
test.each(['stays down', 'comes back during the close'])(
  'a worker closed while its Redis is unreachable (and %s) is force-closed within its deadline and leaves no BullMQ timer or socket behind',
  async (afterKill) => {
    const before = activeHandles();
    const redisPort = await freePort();
    const redis = [await startPrivateRedis(redisPort)];
    const deadlineMs = 3000;
    const bridge = await startBridge({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, SHUTDOWN_DEADLINE_MS: String(deadlineMs) });
    let closeMs: number;
    try {
      const running = await bridge.startWorker({ schedulers: false });
      const everyClient = async (status: string) => (await Promise.all(running.workers.map(clientStatuses))).every((statuses) => statuses.every((s) => s === status));
      // Each Worker is really waiting for jobs (its blocking client connected) before Redis goes away.
      await waitFor(() => everyClient('ready'), 10_000, 'workers to be ready');
      await Promise.all(redis.map(kill));
      // Between two attempts to reconnect: the state in which BullMQ's close waits for Redis forever.
      await waitFor(() => everyClient('reconnecting'), 10_000, 'clients to be reconnecting');
      const closingEvents = Promise.all(running.workers.map((worker) => new Promise((resolve) => worker.once('closing', resolve))));
      const started = Date.now();
      const closed = running.close();
      if (afterKill === 'comes back during the close') {
        await closingEvents;
        redis.push(await startPrivateRedis(redisPort));
      }
      await closed;
      closeMs = Date.now() - started;
    } finally {
      await Promise.all(redis.map(kill));
      await bridge.close();
    }
    expect(closeMs).toBeLessThan(deadlineMs + 1000);
    const settled = await waitFor(async () => Object.keys(extraHandles(before)).length === 0, 5000, 'handles to close').catch(() => false);
    expect(settled ? {} : extraHandles(before)).toEqual({});
  },
  30_000,
);
