/**
 * REST writes: `PUT /v1/tenants/{id}/extensions/{ext}` one at a time through apps/api and apps/worker
 * (child processes), as an operator's portal sends them: the request committed to tenant_writes, a
 * tenant-writes job applying it to FusionPBX under the service lock plus the event-socket cache
 * delete, the API polling the row for the answer. Half the writes create an extension, half change
 * one. Baseline: the same FusionPBX write function and the same event-socket steps called directly
 * in this process (no HTTP, no row, no queue, no lock) for another tenant of the same database.
 */
import { writeTenantExtension } from '@ictvoip/fusionpbx';
import { EslClient, applyFreeswitchSide } from '@ictvoip/freeswitch';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { Pool } from 'pg';
import { createBenchBridge } from '../lib/bridge-env';
import { freePort, startService, type RunningService } from '../lib/child';
import { profileFlags } from '../lib/profile';
import { measuredRow, type ResultRow } from '../lib/report';
import type { BenchSizes } from '../lib/sizes';
import { elapsedMs, percentile, round } from '../lib/stats';

export class RestWritesBenchError extends Error {
  readonly code = 'BENCH_REST_WRITES_FAILED';
}

const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
const PROJECT_SERVICE = 800_001;
const BASELINE_SERVICE = 800_002;

/** Extension numbers 200… : the first half created, the second half changes them in turn. */
function plan(writes: number): { extension: string; description: string }[] {
  const created = Math.ceil(writes / 2);
  return Array.from({ length: writes }, (_, i) => ({ extension: String(200 + (i % created)), description: `desk ${i}` }));
}

async function createTenant(url: string, serviceId: number): Promise<void> {
  const reply = await postWebhook(url, JSON.stringify(buildEvent({ serviceId, plan: { maxExtensions: 1, firstExtension: 100 } })), { query: '?wait=25' });
  if (reply.body.result !== 'success') throw new RestWritesBenchError(`tenant ${serviceId}: ${JSON.stringify(reply.body)}`);
}

async function projectWrites(url: string, writes: { extension: string; description: string }[]): Promise<number[]> {
  const latencies: number[] = [];
  for (const [index, write] of writes.entries()) {
    const start = process.hrtime.bigint();
    const response = await fetch(`${url}/v1/tenants/${PROJECT_SERVICE}/extensions/${write.extension}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-request-id': `bench-${index}` },
      body: JSON.stringify({ description: write.description }),
    });
    await response.text();
    latencies.push(elapsedMs(start));
    if (response.status !== 200 && response.status !== 201) throw new RestWritesBenchError(`PUT ${write.extension} answered ${response.status}`);
  }
  return latencies;
}

async function baselineWrites(fusionUrl: string, esl: EslClient, writes: { extension: string; description: string }[]): Promise<number[]> {
  const pool = new Pool({ connectionString: fusionUrl, max: 2 });
  const latencies: number[] = [];
  try {
    for (const write of writes) {
      const start = process.hrtime.bigint();
      const result = await writeTenantExtension(pool, write.extension, { description: write.description }, 'upsert', {
        serviceId: BASELINE_SERVICE,
        maxEnabledExtensions: null,
        registrationProfile: 'internal',
      });
      await applyFreeswitchSide(esl, result.freeswitch, { cache: { method: 'memcache' } });
      latencies.push(elapsedMs(start));
    }
  } finally {
    await pool.end();
  }
  return latencies;
}

export async function runRestWritesBenchmark(sizes: BenchSizes, log: (line: string) => void): Promise<ResultRow[]> {
  const { writes } = sizes.restWrites;
  const bridge = await createBenchBridge('rest', { ADMIN_TOKEN, API_RATE_LIMIT_STANDARD: '1000000' });
  const services: RunningService[] = [];
  const bridgePool = new Pool({ connectionString: bridge.bridgeDb.url, max: 2 });
  const esl = new EslClient({ host: bridge.esl.host, port: bridge.esl.port, password: 'ClueCon' });
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
    services.push(
      await startService({ name: 'apps/worker', script: 'apps/worker/src/main.ts', env: bridge.env, readyLine: 'worker started', nodeOptions: profileFlags('worker') }),
    );
    await createTenant(api.url, PROJECT_SERVICE);
    await createTenant(api.url, BASELINE_SERVICE);
    await bridgePool.query(`UPDATE services SET plan = plan || '{"maxExtensions": 100000}'::jsonb WHERE service_id = $1`, [PROJECT_SERVICE]);

    const work = plan(writes);
    // Warm-up (JIT, pools, the event socket), not counted: one write of each kind on extension 199.
    await projectWrites(api.url, [
      { extension: '199', description: 'warm' },
      { extension: '199', description: 'warm again' },
    ]);
    await baselineWrites(bridge.fusionDb.url, esl, [
      { extension: '199', description: 'warm' },
      { extension: '199', description: 'warm again' },
    ]);
    const project = await projectWrites(api.url, work);
    const baseline = await baselineWrites(bridge.fusionDb.url, esl, work);
    const { rows } = await bridgePool.query<{ n: number }>("SELECT count(*)::int AS n FROM tenant_writes WHERE status = 'succeeded'");
    if (rows[0].n !== writes + 2) throw new RestWritesBenchError(`${rows[0].n} writes succeeded, expected ${writes + 2}`);
    const [p50, p99, b50, b99] = [percentile(project, 50), percentile(project, 99), percentile(baseline, 50), percentile(baseline, 99)];
    log(`  rest writes: p50 ${round(p50, 1)} ms p99 ${round(p99, 1)} ms (direct call p50 ${round(b50, 1)} ms p99 ${round(b99, 1)} ms), ${writes} writes one at a time`);
    const details = {
      writes,
      projectP50Ms: round(p50, 2),
      projectP99Ms: round(p99, 2),
      baselineP50Ms: round(b50, 2),
      baselineP99Ms: round(b99, 2),
      apiPeakRssMiB: api.peakRssMiB(),
    };
    const label = 'PUT extension → api → tenant-writes job → FusionPBX + ESL → answer';
    const bare = 'writeTenantExtension + applyFreeswitchSide, called directly';
    return [
      measuredRow({
        benchmark: 'rest-writes',
        metric: `p50 of ${writes} extension writes, one at a time`,
        project: { value: p50, unit: 'ms', label },
        baseline: { value: b50, unit: 'ms', label: bare },
        better: 'lower',
        target: '—',
        targetMet: null,
        details,
      }),
      measuredRow({
        benchmark: 'rest-writes',
        metric: `p99 of ${writes} extension writes, one at a time`,
        project: { value: p99, unit: 'ms', label },
        baseline: { value: b99, unit: 'ms', label: bare },
        better: 'lower',
        target: '—',
        targetMet: null,
      }),
    ];
  } finally {
    await esl.close();
    for (const service of services.reverse()) await service.stop();
    await bridgePool.end().catch(() => undefined);
    await bridge.close();
  }
}
