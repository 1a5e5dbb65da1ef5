/**
 * The paced client's own CPU (issue #20, h148): the raw-socket client (bench/lib/paced-load.ts) and
 * the first, node:http one (bench/lib/paced-load-node-http.ts) in turn (ABBA...), at the same rate,
 * against a trivial HTTP server in its own process that answers every POST 202 with a small JSON body
 * (no database: only the client's cost differs). Prints per round the client process's CPU per request
 * (user + system, building the requests included), the latency p50 / p99 and late sends, then the
 * medians and how many pairs favoured the raw client.
 *
 *   node --import tsx --import ./bench/lib/prefer-dist.cjs bench/ingest/paced-client-ab.ts
 *   AB_ROUNDS=6 AB_SECONDS=5 AB_RATE=1000 ...
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { freePort } from '../lib/child';
import { runPacedSignedLoad, type PacedLoadResult } from '../lib/paced-load';
import { runPacedSignedLoadNodeHttp } from '../lib/paced-load-node-http';

const SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(202, { 'content-type': 'application/json', 'content-length': 20 }); res.end('{"result":"pending"}'); });
}).listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function main(): Promise<void> {
  const rounds = Number(process.env.AB_ROUNDS ?? 6);
  const seconds = Number(process.env.AB_SECONDS ?? 5);
  const rate = Number(process.env.AB_RATE ?? 1000);
  const port = await freePort();
  const server = spawn(process.execPath, ['-e', SERVER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(server.stdout, 'data');
  const url = `http://127.0.0.1:${port}`;
  const clients = { raw: runPacedSignedLoad, nodeHttp: runPacedSignedLoadNodeHttp };
  const cpu: Record<string, number[]> = { raw: [], nodeHttp: [] };
  const p99: Record<string, number[]> = { raw: [], nodeHttp: [] };
  let serviceId = 1;
  try {
    // Warm both (JIT) before the measured rounds.
    for (const run of Object.values(clients)) await run({ url, secret: 'ab-secret', rate, durationSeconds: 1, firstServiceId: serviceId++ * 100_000 });
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? (['raw', 'nodeHttp'] as const) : (['nodeHttp', 'raw'] as const);
      for (const name of order) {
        const before = process.cpuUsage();
        const result: PacedLoadResult = await clients[name]({ url, secret: 'ab-secret', rate, durationSeconds: seconds, firstServiceId: serviceId++ * 100_000 });
        const used = process.cpuUsage(before);
        const usPerRequest = Math.round((used.user + used.system) / result.scheduled);
        cpu[name]!.push(usPerRequest);
        p99[name]!.push(result.p99Ms);
        const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
        console.log(
          JSON.stringify({
            round,
            client: name,
            load,
            cpuUsPerRequest: usPerRequest,
            answeredPerSecond: Math.round(result.requestsPerSecond),
            p50Ms: result.p50Ms,
            p99Ms: result.p99Ms,
            lateSends: result.lateSends,
            errors: result.errors,
            non2xx: result.non2xx,
            timeouts: result.timeouts,
          }),
        );
      }
    }
    const favoured = cpu.raw!.filter((value, i) => value < cpu.nodeHttp![i]!).length;
    const lowerP99 = p99.raw!.filter((value, i) => value < p99.nodeHttp![i]!).length;
    console.log(
      JSON.stringify({
        medianCpuUsPerRequest: { raw: median(cpu.raw!), nodeHttp: median(cpu.nodeHttp!) },
        medianP99Ms: { raw: Math.round(median(p99.raw!) * 100) / 100, nodeHttp: Math.round(median(p99.nodeHttp!) * 100) / 100 },
        pairsRawLowerCpu: `${favoured} of ${rounds}`,
        pairsRawLowerP99: `${lowerP99} of ${rounds}`,
      }),
    );
  } finally {
    server.kill();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
