/**
 * Webhook ingest: signed `create` events through the real apps/api (child process) versus a bare
 * Express receiver (HMAC + INSERT + BullMQ add, child process), same machine, same run.
 * Two alternating rounds at full speed (best of each kept, so a noisy neighbour second does not
 * decide the ratio), then a paced, open-loop run at a steady `fixedRate` req/s for the p99 target
 * (bench/lib/paced-load.ts: request i due at t0 + i/rate, latency from that due time; autocannon's
 * `overallRate` would send each second's budget in a burst). Each server's
 * CPU time per request over its two full-speed rounds is reported too: on a loaded machine it is the
 * figure that still compares the two.
 */
import { createTestDatabase, uniqueQueuePrefix, deleteRedisPrefix, TEST_REDIS_URL } from '@ictvoip/testkit';
import { createBenchBridge, DURABLE } from '../lib/bridge-env';
import { cpuSeconds, freePort, startService, type RunningService } from '../lib/child';
import { profileFlags } from '../lib/profile';
import { assertAllAccepted, runSignedLoad, type LoadResult } from '../lib/load';
import { runPacedSignedLoad, type PacedLoadResult } from '../lib/paced-load';
import { measuredRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';
import { round } from '../lib/stats';

interface Target {
  name: string;
  service: RunningService;
}

function summary(result: LoadResult): Record<string, number> {
  return { reqPerSec: round(result.requestsPerSecond, 1), p50Ms: result.p50Ms, p99Ms: result.p99Ms, maxMs: result.maxMs, total: result.total };
}

function pacedSummary(result: PacedLoadResult): Record<string, number> {
  return {
    ...summary(result),
    sentPerSec: round(result.sentPerSecond, 1),
    scheduled: result.scheduled,
    lateSends: result.lateSends,
    sendLagP99Ms: result.sendLagP99Ms,
    maxSendLagMs: result.maxSendLagMs,
    waitedForSocket: result.waitedForSocket,
    maxInFlight: result.maxInFlight,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

export async function runIngestBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const { connections, warmupSeconds, durationSeconds, fixedRate, fixedRateSeconds } = sizes.ingest;
  const bridge = await createBenchBridge('ingest');
  const baselineDb = await createTestDatabase('bench_ingest_base', DURABLE);
  const baselinePrefix = uniqueQueuePrefix('bench-ingest-base');
  const services: RunningService[] = [];
  try {
    const apiPort = await freePort();
    const api = await startService({
      name: 'apps/api',
      script: 'apps/api/src/main.ts',
      env: { ...bridge.env, PORT: String(apiPort) },
      healthUrl: `http://127.0.0.1:${apiPort}/healthz`,
      nodeOptions: profileFlags('api'),
    });
    services.push(api);
    const basePort = await freePort();
    const baseline = await startService({
      name: 'baseline express',
      script: 'bench/ingest/baseline-server.ts',
      env: { PORT: String(basePort), DATABASE_URL: baselineDb.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: baselinePrefix, WEBHOOK_SECRET: bridge.secret },
      healthUrl: `http://127.0.0.1:${basePort}/healthz`,
      nodeOptions: profileFlags('baseline'),
    });
    services.push(baseline);
    const project: Target = { name: 'apps/api', service: api };
    const bare: Target = { name: 'baseline', service: baseline };

    let serviceId = 1_000_000;
    const cpu: Record<string, { seconds: number; requests: number }> = { 'apps/api': { seconds: 0, requests: 0 }, baseline: { seconds: 0, requests: 0 } };
    const load = async (target: Target, seconds: number) => {
      const result = await runSignedLoad({ url: target.service.url, secret: bridge.secret, connections, durationSeconds: seconds, firstServiceId: serviceId });
      serviceId += 10_000_000;
      assertAllAccepted(target.name, result);
      log(`  ingest ${target.name}: ${round(result.requestsPerSecond, 0)} req/s p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms`);
      return result;
    };
    const paced = async (target: Target) => {
      const result = await runPacedSignedLoad({ url: target.service.url, secret: bridge.secret, rate: fixedRate, durationSeconds: fixedRateSeconds, firstServiceId: serviceId });
      serviceId += 10_000_000;
      if (result.errors > 0) log(`  ingest ${target.name} paced: errors ${JSON.stringify(result.errorCodes)}`);
      assertAllAccepted(target.name, result);
      log(
        `  ingest ${target.name} paced @${fixedRate}/s: ${round(result.requestsPerSecond, 0)} req/s answered (sent ${round(result.sentPerSecond, 0)}/s), ` +
          `p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms max ${result.maxMs} ms, ${result.lateSends} late sends (lag p99 ${result.sendLagP99Ms} ms, max ${result.maxSendLagMs} ms), ` +
          `${result.maxInFlight} in flight at most (${result.waitedForSocket} waited for a socket), ${result.timeouts} timeouts, ${result.errors} errors`,
      );
      return result;
    };

    for (const target of [project, bare]) await load(target, warmupSeconds);
    const rounds: Record<string, LoadResult[]> = { project: [], baseline: [] };
    // The timed full-speed rounds, with the server's CPU time around each.
    const timed = async (target: Target) => {
      const before = cpuSeconds(target.service.child.pid);
      const result = await load(target, durationSeconds);
      const after = cpuSeconds(target.service.child.pid);
      if (before !== null && after !== null) cpu[target.name] = { seconds: cpu[target.name]!.seconds + after - before, requests: cpu[target.name]!.requests + result.total };
      return result;
    };
    rounds.baseline.push(await timed(bare));
    rounds.project.push(await timed(project));
    rounds.project.push(await timed(project));
    rounds.baseline.push(await timed(bare));
    const best = (results: LoadResult[]) => results.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
    const projectBest = best(rounds.project);
    const baselineBest = best(rounds.baseline);

    const projectFixed = await paced(project);
    const baselineFixed = await paced(bare);

    const throughput = measuredRow({
      benchmark: 'webhook ingest',
      metric: `throughput, ${connections} connections (best of 2)`,
      project: { value: projectBest.requestsPerSecond, unit: 'req/s', label: 'signed create → apps/api (inbox + BullMQ)' },
      baseline: { value: baselineBest.requestsPerSecond, unit: 'req/s', label: 'Express: HMAC + INSERT + BullMQ add' },
      better: 'higher',
      target: 'ratio ≥ 0.8',
      targetMet: null,
      details: { project: rounds.project.map(summary), baseline: rounds.baseline.map(summary), apiPeakRssMiB: api.peakRssMiB(), baselinePeakRssMiB: baseline.peakRssMiB() },
    });
    throughput.targetMet = sizes.name === 'full' ? throughput.ratio !== null && throughput.ratio >= 0.8 : null;
    const latencyRows = (label: string, projectResult: LoadResult, baselineResult: LoadResult): ResultRow[] => [
      measuredRow({
        benchmark: 'webhook ingest',
        metric: `p50 latency, ${label}`,
        project: { value: projectResult.p50Ms, unit: 'ms', label: 'apps/api' },
        baseline: { value: baselineResult.p50Ms, unit: 'ms', label: 'bare Express' },
        better: 'lower',
        target: '—',
        targetMet: null,
      }),
    ];
    const fixedP99 = measuredRow({
      benchmark: 'webhook ingest',
      metric: `p99 latency at a steady ${fixedRate.toLocaleString('en-US')} req/s (paced, open loop)`,
      project: { value: projectFixed.p99Ms, unit: 'ms', label: 'apps/api' },
      baseline: { value: baselineFixed.p99Ms, unit: 'ms', label: 'bare Express' },
      better: 'lower',
      target: 'p99 < 25 ms at a steady 1,000 req/s',
      targetMet: sizes.name === 'full' ? projectFixed.p99Ms < 25 : null,
      details: { project: pacedSummary(projectFixed), baseline: pacedSummary(baselineFixed) },
    });
    // The p99 counts from each request's due time, so a server slower than the rate shows in it; say
    // so beside it, and say when the client itself could not send on time (its own lag is in the p99 too).
    const shortfall = [
      ['apps/api', projectFixed],
      ['baseline', baselineFixed],
    ] as const;
    const missed = shortfall.flatMap(([name, result]) => {
      const notes: string[] = [];
      if (result.requestsPerSecond < fixedRate * 0.95) notes.push(`${name} answered only ${round(result.requestsPerSecond, 0)} req/s`);
      if (result.timeouts > 0) notes.push(`${result.timeouts} of ${name}'s requests unanswered after 10 s idle on their socket (in the p99 at their time so far)`);
      if (result.lateSends > 0) notes.push(`${result.lateSends} of ${name}'s ${result.scheduled} requests sent > 2 ms late (max ${result.maxSendLagMs} ms)`);
      return notes;
    });
    if (missed.length > 0) fixedP99.note = `offered a steady ${fixedRate} req/s; ${missed.join('; ')}`;
    const saturatedP99 = measuredRow({
      benchmark: 'webhook ingest',
      metric: `p99 latency, ${connections} connections saturated`,
      project: { value: projectBest.p99Ms, unit: 'ms', label: 'apps/api' },
      baseline: { value: baselineBest.p99Ms, unit: 'ms', label: 'bare Express' },
      better: 'lower',
      target: '—',
      targetMet: null,
    });
    const perRequestUs = (name: string) => (cpu[name]!.requests > 0 ? (cpu[name]!.seconds * 1e6) / cpu[name]!.requests : Number.NaN);
    const cpuRow = measuredRow({
      benchmark: 'webhook ingest',
      metric: 'server CPU per request (user + system, full-speed rounds)',
      project: { value: perRequestUs('apps/api'), unit: 'µs', label: 'apps/api process' },
      baseline: { value: perRequestUs('baseline'), unit: 'µs', label: 'bare Express process' },
      better: 'lower',
      target: '—',
      targetMet: null,
      details: cpu,
    });
    log(`  ingest CPU per request: apps/api ${round(perRequestUs('apps/api'), 0)} µs, baseline ${round(perRequestUs('baseline'), 0)} µs`);
    return [throughput, ...latencyRows(`${connections} connections saturated`, projectBest, baselineBest), saturatedP99, fixedP99, cpuRow];
  } finally {
    for (const service of services.reverse()) await service.stop();
    await deleteRedisPrefix(baselinePrefix).catch(() => undefined);
    await baselineDb.drop().catch(() => undefined);
    await bridge.close();
  }
}
