/**
 * Child of registrations.bench.ts: the registration monitoring poll of one FusionPBX server with
 * `tenants` × `perTenant` registered extensions, through the real worker code (apps/worker
 * pollServerRegistrations: the event socket stand-in's `sofia xmlstatus` reply, FusionPBX's
 * v_extensions, the bridge's registrations table). Measures this process's CPU time (user + system,
 * process.cpuUsage) per poll: steady polls (every reply differs from the last in expsecs and
 * ping-time only: parse, match, compare with the worker's snapshot, no row written) and polls where
 * 1 % of the phones went missing or came back (their transitions in one locked transaction), and polls where 5 % of
 * the phones re-registered since the last poll (their `exp(…)` moved: a real switch's usual poll). The event-socket
 * stand-in runs in a child process (esl-standin.child.ts) and PostgreSQL in its own: neither's CPU is
 * in the figures. Baseline: the same reply through a bare fast-xml-parser parse, nothing else.
 * Prints one JSON line (MonitoringPollChildResult).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { XMLParser } from 'fast-xml-parser';
import { loadConfig } from '@ictvoip/config';
import { migrateBridgeDatabase } from '@ictvoip/store';
import { pollServerRegistrations, startWorker, type RegistrationPollResult } from '@ictvoip/worker';
import { createPool } from '@ictvoip/store';
import { createBenchBridge } from '../lib/bridge-env';
import { freePort, startService } from '../lib/child';
import { median, percentile } from '../lib/stats';
import { monitoredRegistrationsXml, REFRESH_EVERY, tenantDomain } from './generator';

const tenants = Number(process.env.BENCH_TENANTS ?? 500);
const perTenant = Number(process.env.BENCH_PER_TENANT ?? 20);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);

export interface MonitoringPollChildResult {
  registrations: number;
  tenants: number;
  bytes: number;
  firstPollCpuMs: number;
  firstPollWallMs: number;
  steadyCpuMs: number;
  steadyCpuP99Ms: number;
  /** Of steadyCpuMs, the kernel's share (socket reads, page faults). */
  steadySystemMs: number;
  steadyWallMs: number;
  /** Polls where 5 % of the phones re-registered since the last poll (their `exp(…)` moved), nothing else changed. */
  refreshedCpuMs: number;
  refreshedCpuP99Ms: number;
  refreshedSystemMs: number;
  refreshedWallMs: number;
  /** Phones that re-registered before each refreshed poll (1 in REFRESH_EVERY). */
  refreshedPhones: number;
  changedCpuMs: number;
  changedWallMs: number;
  changedTransitions: number;
  baselineCpuMs: number;
  baselineCpuP99Ms: number;
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function cpuMs(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

type Measured = { cpu: number; system: number; wall: number; value: RegistrationPollResult };

async function cpuMsAsync<T>(run: () => Promise<T>): Promise<{ cpu: number; system: number; wall: number; value: T }> {
  const start = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  const value = await run();
  const used = process.cpuUsage(start);
  return { cpu: (used.user + used.system) / 1000, system: used.system / 1000, wall: Number(process.hrtime.bigint() - wallStart) / 1e6, value };
}

async function seed(bridge: Awaited<ReturnType<typeof createBenchBridge>>): Promise<void> {
  const bridgePool = createPool(bridge.env.DATABASE_URL!, { max: 2 });
  try {
    await migrateBridgeDatabase(bridgePool);
    const services = Array.from({ length: tenants }, (_, tenant) => ({ service_id: 50_000 + tenant, tenant_domain: tenantDomain(tenant) }));
    await bridgePool.query(
      `INSERT INTO services (service_id, client_id, tenant_domain, desired_state) SELECT s.service_id, 1, s.tenant_domain, 'active' FROM jsonb_to_recordset($1::jsonb) AS s(service_id bigint, tenant_domain text)`,
      [JSON.stringify(services)],
    );
  } finally {
    await bridgePool.end();
  }
  const domains = Array.from({ length: tenants }, (_, tenant) => ({ domain_uuid: randomUUID(), domain_name: tenantDomain(tenant) }));
  await bridge.fusion.query(
    `insert into v_domains (domain_uuid, domain_name, domain_enabled) select d.domain_uuid, d.domain_name, true from jsonb_to_recordset($1::jsonb) as d(domain_uuid uuid, domain_name text)`,
    [JSON.stringify(domains)],
  );
  const extensions = domains.flatMap((domain) =>
    Array.from({ length: perTenant }, (_, index) => ({ extension_uuid: randomUUID(), domain_uuid: domain.domain_uuid, extension: String(100 + index) })),
  );
  await bridge.fusion.query(
    `insert into v_extensions (extension_uuid, domain_uuid, extension, enabled)
     select e.extension_uuid, e.domain_uuid, e.extension, 'true' from jsonb_to_recordset($1::jsonb) as e(extension_uuid uuid, domain_uuid uuid, extension text)`,
    [JSON.stringify(extensions)],
  );
}

const profileFile = process.env.BENCH_STEADY_CPU_PROF;
/** Which polls BENCH_STEADY_CPU_PROF profiles: `steady` (the default), `refreshed`, `changed` (1 % lost or restored) or `first`. */
const profileKind = process.env.BENCH_CPU_PROF_POLLS ?? 'steady';
let profiler: Session | null = null;

/** With BENCH_STEADY_CPU_PROF=<file>: a V8 CPU profile of the polls of BENCH_CPU_PROF_POLLS only, not of writing their replies (bench/profile-summary.ts reads it). */
async function profiled<T>(run: () => Promise<T>): Promise<T> {
  if (!profileFile) return run();
  const post = (method: string) => new Promise<unknown>((resolve, reject) => profiler!.post(method, (error, result) => (error ? reject(error) : resolve(result))));
  if (!profiler) {
    profiler = new Session();
    profiler.connect();
    await post('Profiler.enable');
  }
  await post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = (await post('Profiler.stop')) as { profile: ProfileParts };
    steadyProfiles.push(profile);
  }
}
interface ProfileParts {
  nodes: { id: number; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}
const steadyProfiles: ProfileParts[] = [];

/** One profile of several (node ids offset per profile), so the summary covers every steady poll. */
function mergeProfiles(profiles: readonly ProfileParts[]): ProfileParts {
  const merged: ProfileParts = { nodes: [], samples: [], timeDeltas: [], startTime: 0, endTime: 0 };
  profiles.forEach((profile, index) => {
    const offset = (index + 1) * 10_000_000;
    merged.nodes.push(...profile.nodes.map((node) => ({ ...node, id: node.id + offset, children: node.children?.map((child) => child + offset) })));
    merged.samples.push(...profile.samples.map((id) => id + offset));
    merged.timeDeltas.push(...profile.timeDeltas);
    merged.endTime += profile.endTime - profile.startTime;
  });
  return merged;
}

/** The event-socket stand-in in a child process (its CPU is not this process's), answering from a file this process replaces. */
async function startStandinChild(replyFile: string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const service = await startService({
    name: 'esl-standin',
    script: 'bench/registrations/esl-standin.child.ts',
    env: { BENCH_ESL_PORT: String(port), BENCH_REPLY_FILE: replyFile },
    readyLine: 'esl stand-in ready',
  });
  return { port, stop: () => service.stop() };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-monpoll-'));
  const replyFile = join(dir, 'internal-reg.xml');
  const setReply = (body: string) => {
    writeFileSync(`${replyFile}.new`, body);
    renameSync(`${replyFile}.new`, replyFile);
  };
  // 1 % of the phones missing: with a grace period of 0 each is lost at once (one transaction and alert job each).
  const missing = new Set(
    Array.from({ length: Math.max(1, Math.floor((tenants * perTenant) / 100)) }, (_, index) => `${100 + (index % perTenant)}@${tenantDomain(index % tenants)}`),
  );
  let pollNumber = 0;
  let refreshes = 0;
  const replyFor = (gone: ReadonlySet<string>) => monitoredRegistrationsXml(tenants, perTenant, gone, 11, pollNumber, refreshes);
  setReply(replyFor(new Set()));
  const standin = await startStandinChild(replyFile);
  const bridge = await createBenchBridge('monpoll', { REGISTRATION_LOST_AFTER_SECONDS: '0', ESL_TIMEOUT_MS: '120000' });
  try {
    await seed(bridge);
    const config = loadConfig({ ...bridge.env, ESL_PORT: String(standin.port) });
    const worker = await startWorker(config, pino({ level: 'warn' }), { schedulers: false });
    // Only the poll is measured: the queue consumers (the alert jobs the changed polls queue) would run in this process meanwhile.
    await Promise.all(worker.workers.map((consumer) => consumer.close()));
    try {
      let clock = Date.parse('2026-05-01T00:00:00Z');
      // The reply is written before the measured poll (its generation is not the bridge's cost).
      const poll = async (gone: ReadonlySet<string> = new Set(), measure: (run: () => Promise<Measured>) => Promise<Measured> = (run) => run()) => {
        pollNumber += 1;
        setReply(replyFor(gone));
        clock += 60_000;
        // The generator's garbage (a 7.8 MB string and its parts) is collected before the clock starts, not by the measured poll's GC.
        collectGarbage();
        return measure(() => cpuMsAsync(() => pollServerRegistrations(worker.deps, 'default', new Date(clock))));
      };
      const progress = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      progress('seeded; first poll');
      const measured = (kind: string) => (kind === profileKind ? profiled : undefined);
      const first = await poll(new Set(), measured('first'));
      progress(`first poll (${first.value.path}): ${first.cpu.toFixed(0)} ms CPU, ${first.wall.toFixed(0)} ms wall`);
      if (first.value.registered !== tenants * perTenant) throw new Error(`first poll saw ${first.value.registered} of ${tenants * perTenant} registered`);
      const steady: { cpu: number; system: number; wall: number }[] = [];
      const changed: { cpu: number; wall: number; transitions: number }[] = [];
      const refreshed: { cpu: number; system: number; wall: number }[] = [];
      for (let round = 0; round < rounds; round += 1) {
        const run = await poll(new Set(), measured('steady'));
        progress(`steady poll (${run.value.path}): ${run.cpu.toFixed(0)} ms CPU (${run.system.toFixed(0)} ms of it system), ${run.wall.toFixed(0)} ms wall`);
        if (run.value.transitions.length !== 0) throw new Error('a steady poll moved a state');
        steady.push(run);
        refreshes += 1;
        const refresh = await poll(new Set(), measured('refreshed'));
        progress(
          `refreshed poll (5 % re-registered, ${refresh.value.path}): ${refresh.cpu.toFixed(0)} ms CPU (${refresh.system.toFixed(0)} ms of it system), ${refresh.wall.toFixed(0)} ms wall`,
        );
        if (refresh.value.transitions.length !== 0) throw new Error('a refreshed poll moved a state');
        refreshed.push(refresh);
        // Every other round: 1 % gone, then back (lost, restored).
        if (round % 2 === 0) {
          const gone = await poll(missing, measured('changed'));
          const back = await poll(new Set(), measured('changed'));
          progress(
            `changed polls (${gone.value.path} / ${back.value.path}): ${gone.cpu.toFixed(0)} / ${back.cpu.toFixed(0)} ms CPU, ${gone.wall.toFixed(0)} / ${back.wall.toFixed(0)} ms wall`,
          );
          changed.push(
            { cpu: gone.cpu, wall: gone.wall, transitions: gone.value.transitions.length },
            { cpu: back.cpu, wall: back.wall, transitions: back.value.transitions.length },
          );
        }
      }
      const all = replyFor(new Set());
      const bare = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'registration' });
      const baseline = Array.from({ length: rounds + 3 }, () => cpuMs(() => void bare.parse(all))).slice(3);
      const result: MonitoringPollChildResult = {
        registrations: tenants * perTenant,
        tenants,
        bytes: Buffer.byteLength(all),
        firstPollCpuMs: first.cpu,
        firstPollWallMs: first.wall,
        steadyCpuMs: median(steady.map((run) => run.cpu)),
        steadyCpuP99Ms: percentile(
          steady.map((run) => run.cpu),
          99,
        ),
        steadySystemMs: median(steady.map((run) => run.system)),
        steadyWallMs: median(steady.map((run) => run.wall)),
        refreshedCpuMs: median(refreshed.map((run) => run.cpu)),
        refreshedCpuP99Ms: percentile(
          refreshed.map((run) => run.cpu),
          99,
        ),
        refreshedSystemMs: median(refreshed.map((run) => run.system)),
        refreshedWallMs: median(refreshed.map((run) => run.wall)),
        refreshedPhones: Math.ceil((tenants * perTenant) / REFRESH_EVERY),
        changedCpuMs: median(changed.map((run) => run.cpu)),
        changedWallMs: median(changed.map((run) => run.wall)),
        changedTransitions: changed[0]?.transitions ?? 0,
        baselineCpuMs: median(baseline),
        baselineCpuP99Ms: percentile(baseline, 99),
      };
      if (profileFile) writeFileSync(profileFile, JSON.stringify(mergeProfiles(steadyProfiles)));
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await worker.close();
    }
  } finally {
    await standin.stop();
    await bridge.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
