/**
 * Child of registrations.bench.ts: the registration monitoring poll of one FusionPBX server with
 * `tenants` × `perTenant` registered extensions, through the real worker code (apps/worker
 * pollServerRegistrations: the event socket stand-in's `sofia xmlstatus` reply, FusionPBX's
 * v_extensions, the bridge's registrations table). Measures this process's CPU time (user + system,
 * process.cpuUsage) per poll: steady polls (nothing changed: parse, match, one UPDATE for all) and
 * polls where 1 % of the phones went missing (one locked transaction each). PostgreSQL's own CPU is
 * not in it. Baseline: the same reply through a bare fast-xml-parser parse, nothing else.
 * Prints one JSON line (MonitoringPollChildResult).
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { XMLParser } from 'fast-xml-parser';
import { loadConfig } from '@ictvoip/config';
import { migrateBridgeDatabase } from '@ictvoip/store';
import { pollServerRegistrations, startWorker } from '@ictvoip/worker';
import { createPool } from '@ictvoip/store';
import { createBenchBridge } from '../lib/bridge-env';
import { median, percentile } from '../lib/stats';
import { monitoredRegistrationsXml, tenantDomain } from './generator';

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
  steadyWallMs: number;
  changedCpuMs: number;
  changedWallMs: number;
  changedTransitions: number;
  baselineCpuMs: number;
  baselineCpuP99Ms: number;
}

function cpuMs(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function cpuMsAsync<T>(run: () => Promise<T>): Promise<{ cpu: number; wall: number; value: T }> {
  const start = process.cpuUsage();
  const wallStart = process.hrtime.bigint();
  const value = await run();
  const used = process.cpuUsage(start);
  return { cpu: (used.user + used.system) / 1000, wall: Number(process.hrtime.bigint() - wallStart) / 1e6, value };
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

async function main(): Promise<void> {
  const bridge = await createBenchBridge('monpoll', { REGISTRATION_LOST_AFTER_SECONDS: '0', ESL_TIMEOUT_MS: '120000' });
  try {
    await seed(bridge);
    const all = monitoredRegistrationsXml(tenants, perTenant);
    // 1 % of the phones missing: with a grace period of 0 each is lost at once (one transaction and alert job each).
    const missing = new Set(
      Array.from({ length: Math.max(1, Math.floor((tenants * perTenant) / 100)) }, (_, index) => `${100 + (index % perTenant)}@${tenantDomain(index % tenants)}`),
    );
    const some = monitoredRegistrationsXml(tenants, perTenant, missing);
    let reply = all;
    bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => reply);
    bridge.esl.respond(
      "sofia xmlstatus profile 'external' reg",
      () => '<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n  </registrations>\n</profile>\n',
    );
    const config = loadConfig(bridge.env);
    const worker = await startWorker(config, pino({ level: 'warn' }), { schedulers: false });
    try {
      let clock = Date.parse('2026-05-01T00:00:00Z');
      const poll = () => {
        clock += 60_000;
        return pollServerRegistrations(worker.deps, 'default', new Date(clock));
      };
      const progress = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      progress('seeded; first poll');
      const first = await cpuMsAsync(poll);
      progress(`first poll: ${first.cpu.toFixed(0)} ms CPU, ${first.wall.toFixed(0)} ms wall`);
      if (first.value.registered !== tenants * perTenant) throw new Error(`first poll saw ${first.value.registered} of ${tenants * perTenant} registered`);
      const steady: { cpu: number; wall: number }[] = [];
      const changed: { cpu: number; wall: number; transitions: number }[] = [];
      for (let round = 0; round < rounds; round += 1) {
        const run = await cpuMsAsync(poll);
        progress(`steady poll: ${run.cpu.toFixed(0)} ms CPU, ${run.wall.toFixed(0)} ms wall`);
        if (run.value.transitions.length !== 0) throw new Error('a steady poll moved a state');
        steady.push(run);
        // Every other round: 1 % gone, then back (lost, restored).
        if (round % 2 === 0) {
          reply = some;
          const gone = await cpuMsAsync(poll);
          reply = all;
          const back = await cpuMsAsync(poll);
          progress(`changed polls: ${gone.cpu.toFixed(0)} / ${back.cpu.toFixed(0)} ms CPU, ${gone.wall.toFixed(0)} / ${back.wall.toFixed(0)} ms wall`);
          changed.push(
            { cpu: gone.cpu, wall: gone.wall, transitions: gone.value.transitions.length },
            { cpu: back.cpu, wall: back.wall, transitions: back.value.transitions.length },
          );
        }
      }
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
        steadyWallMs: median(steady.map((run) => run.wall)),
        changedCpuMs: median(changed.map((run) => run.cpu)),
        changedWallMs: median(changed.map((run) => run.wall)),
        changedTransitions: changed[0]?.transitions ?? 0,
        baselineCpuMs: median(baseline),
        baselineCpuP99Ms: percentile(baseline, 99),
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      await worker.close();
    }
  } finally {
    await bridge.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
