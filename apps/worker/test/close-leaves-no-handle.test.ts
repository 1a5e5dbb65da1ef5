/**
 * An operator's graceful shutdown (SIGTERM) ends when the api's and the worker's close() have released
 * every socket, server, child and ref'd timer they opened: one left behind keeps the process alive.
 * Here a whole bridge (api + worker with its schedulers) starts and closes in this process, and the
 * process's active resources must come back to what they were before it started.
 */
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
