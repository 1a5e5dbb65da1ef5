/**
 * What makes the ingest row's p99 at a fixed rate (issue #20, h136). Starts one apps/api per variant
 * (compiled, as `npm start`; each with its own V8 flags or environment) on one bench bridge, and drives
 * them in turn (ABBA...) at the bench's fixed rate with the bench's own load (autocannon, signed
 * `create` events, 20 connections). Per round it prints autocannon's p99 (what the bench reports:
 * autocannon corrects for coordinated omission with a 1 ms expected interval at 50 req/s a connection)
 * beside the raw response times, and from inside the API (bench/ingest/probe-preload.cjs): GC pauses
 * by kind, the event-loop delay, and the process's CPU per request.
 *
 *   npm run build && node --import tsx --import ./bench/lib/prefer-dist.cjs bench/ingest/p99-probe.ts
 *   PROBE_VARIANTS='{"base":[],"semi16":["--max-semi-space-size=16"]}' PROBE_ROUNDS=4 PROBE_SECONDS=15 PROBE_RATE=1000 ...
 *   PROBE_ENV='{"base":{},"pool20":{"DATABASE_POOL_MAX":"20"}}' adds environment per variant.
 *   PROBE_LOAD=paced drives the measured rounds with the bench's paced open-loop client instead
 *   (bench/lib/paced-load.ts: a steady PROBE_RATE, latency from each request's due time); the
 *   `autocannon*` and `raw` fields then hold its p50 / p99 / max, and `tenths` is empty.
 *   PROBE_VARIANTS='{"after":[],"before":["--require","./bench/ingest/before-h148.cjs"]}' is h148's A/B.
 */
import autocannon from 'autocannon';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBenchBridge } from '../lib/bridge-env';
import { cpuSeconds, freePort, startService, type RunningService } from '../lib/child';
import { signedCreateRequest } from '../lib/load';
import { runPacedSignedLoad } from '../lib/paced-load';

interface Variant {
  name: string;
  service: RunningService;
  out: string;
}

const PRELOAD = path.resolve(__dirname, 'probe-preload.cjs');

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function summary(raw: number[]) {
  return { p50: percentile(raw, 50), p90: percentile(raw, 90), p99: percentile(raw, 99), p999: percentile(raw, 99.9), max: raw[raw.length - 1] };
}

async function drive(url: string, secret: string, seconds: number, rate: number | undefined, firstServiceId: number) {
  let next = firstServiceId;
  const raw: number[] = [];
  // Responses by their tenth of the second since the load started: autocannon's rate is a per-second budget per connection.
  const tenths = new Array<number>(10).fill(0);
  const started = Date.now();
  let non2xx = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: 20,
        duration: seconds,
        overallRate: rate,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/webhooks/whmcs',
            setupRequest: (request) => {
              const { body, headers } = signedCreateRequest(secret, next);
              next += 1;
              return { ...request, body, headers: { ...request.headers, ...headers } };
            },
          },
        ],
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 300) non2xx += 1;
      raw.push(ms);
      tenths[Math.floor(((Date.now() - started) % 1000) / 100)]! += 1;
    });
  });
  raw.sort((a, b) => a - b);
  return { result, raw, non2xx, tenths };
}

/** The measured round on the paced client, in drive()'s shape. */
async function drivePaced(url: string, secret: string, seconds: number, rate: number, firstServiceId: number) {
  const paced = await runPacedSignedLoad({ url, secret, rate, durationSeconds: seconds, firstServiceId });
  const latency = { p50: paced.p50Ms, p90: Number.NaN, p99: paced.p99Ms, p999: Number.NaN, max: paced.maxMs };
  return {
    result: {
      duration: seconds,
      latency,
      paced: { lateSends: paced.lateSends, sendLagP99Ms: paced.sendLagP99Ms, timeouts: paced.timeouts, errors: paced.errors, maxInFlight: paced.maxInFlight },
    },
    raw: { length: paced.total },
    sample: latency,
    non2xx: paced.non2xx,
    tenths: [] as number[],
  };
}

async function main(): Promise<void> {
  const variantsFlags = JSON.parse(process.env.PROBE_VARIANTS ?? '{"base":[]}') as Record<string, string[]>;
  const variantsEnv = JSON.parse(process.env.PROBE_ENV ?? '{}') as Record<string, Record<string, string>>;
  const rounds = Number(process.env.PROBE_ROUNDS ?? 3);
  const seconds = Number(process.env.PROBE_SECONDS ?? 15);
  const rate = process.env.PROBE_RATE === 'max' ? undefined : Number(process.env.PROBE_RATE ?? 1000);
  const bridge = await createBenchBridge('ingestprobe');
  const dir = mkdtempSync(path.join(tmpdir(), 'ingest-probe-'));
  const variants: Variant[] = [];
  try {
    for (const [name, flags] of Object.entries(variantsFlags)) {
      const port = await freePort();
      const out = path.join(dir, `${name}.jsonl`);
      const service = await startService({
        name,
        script: 'apps/api/src/main.ts',
        env: { ...bridge.env, ...(variantsEnv[name] ?? {}), PORT: String(port), PROBE_OUT: out },
        healthUrl: `http://127.0.0.1:${port}/healthz`,
        nodeOptions: ['--require', PRELOAD, ...flags],
      });
      variants.push({ name, service, out });
    }
    let serviceId = 1_000_000;
    for (const variant of variants) {
      await drive(variant.service.url, bridge.secret, 3, undefined, serviceId);
      serviceId += 10_000_000;
    }
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const pid = variant.service.child.pid!;
        process.kill(pid, 'SIGUSR2');
        const before = cpuSeconds(pid);
        const pacedRound = process.env.PROBE_LOAD === 'paced' && rate !== undefined;
        const { result, raw, non2xx, tenths, sample } = pacedRound
          ? await drivePaced(variant.service.url, bridge.secret, seconds, rate, serviceId)
          : await drive(variant.service.url, bridge.secret, seconds, rate, serviceId).then((round) => ({ ...round, sample: summary(round.raw) }));
        serviceId += 10_000_000;
        const after = cpuSeconds(pid);
        process.kill(pid, 'SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, 200));
        const lines = readFileSync(variant.out, 'utf8').trim().split('\n');
        const server = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
        const cpuUs = before !== null && after !== null ? Math.round(((after - before) * 1e6) / raw.length) : null;
        const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
        console.log(
          JSON.stringify({
            round,
            variant: variant.name,
            load,
            reqPerSec: Math.round(raw.length / result.duration),
            non2xx,
            autocannonP99: result.latency.p99,
            autocannonP50: result.latency.p50,
            raw: sample,
            ...('paced' in result ? { paced: result.paced } : {}),
            cpuUsPerReq: cpuUs,
            responsesByTenthOfSecond: tenths,
            server,
          }),
        );
      }
    }
    if (process.env.PROBE_OUTPUT) for (const variant of variants) console.log(`--- ${variant.name} output tail ---\n${variant.service.output()}`);
  } finally {
    for (const variant of variants) await variant.service.stop();
    await bridge.close();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
