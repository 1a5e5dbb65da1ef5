/** Child process of registrations.bench.ts: prints one JSON line (RegistrationsChildResult). */
import { XMLParser } from 'fast-xml-parser';
import * as fusionpbx from '@ictvoip/fusionpbx';
import { elapsedMs, median, percentile } from '../lib/stats';
import { registrationsXml, tenantDomain } from './generator';
import type { RegistrationsChildResult } from './registrations.bench';

const count = Number(process.env.BENCH_REGISTRATIONS ?? 10_000);
const domains = Number(process.env.BENCH_DOMAINS ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 20);

interface Parser {
  parseRegistrationsXml(body: string, profile: string): { domain: string }[];
  registrationsForDomain<T>(registrations: readonly T[], domain: string): T[];
  parseRegistrationsForDomain?(body: string, profile: string, domain: string): { domain: string }[];
}

interface Timed {
  times: number[];
  matched: number;
}

/** Warm-up, then the cases alternate round by round so background load hits both alike. */
function timeAlternating(rounds: number, cases: (() => number)[]): Timed[] {
  const results: Timed[] = cases.map(() => ({ times: [], matched: 0 }));
  for (let i = 0; i < 3; i += 1) cases.forEach((work, index) => void (results[index].matched = work()));
  for (let round = 0; round < rounds; round += 1) {
    cases.forEach((work, index) => {
      const start = process.hrtime.bigint();
      results[index].matched = work();
      results[index].times.push(elapsedMs(start));
    });
  }
  return results;
}

function main(): void {
  const xml = registrationsXml(count, domains);
  const domain = tenantDomain(1);
  const parser = fusionpbx as unknown as Partial<Parser>;
  const bare = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'registration' });
  const bareCase = () => {
    const document = bare.parse(xml) as { profile: { registrations: { registration: { 'sip-auth-realm'?: string; user: string }[] } } };
    return document.profile.registrations.registration.filter((entry) => entry['sip-auth-realm'] === domain || entry.user.endsWith(`@${domain}`)).length;
  };
  const available = typeof parser.parseRegistrationsXml === 'function' && typeof parser.registrationsForDomain === 'function';
  const cases = [bareCase];
  if (available) {
    const { parseRegistrationsXml, registrationsForDomain, parseRegistrationsForDomain } = parser as Parser;
    // What the API runs: the tenant's blocks picked out first, then parsed (falls back to parse-all).
    cases.push(
      parseRegistrationsForDomain
        ? () => parseRegistrationsForDomain(xml, 'internal', domain).length
        : () => registrationsForDomain(parseRegistrationsXml(xml, 'internal'), domain).length,
    );
  }
  const [baseline, project] = timeAlternating(rounds, cases);
  const result: RegistrationsChildResult = {
    available,
    medianMs: project ? median(project.times) : Number.NaN,
    p99Ms: project ? percentile(project.times, 99) : Number.NaN,
    bytes: Buffer.byteLength(xml),
    matched: project?.matched ?? 0,
    baselineMatched: baseline.matched,
    baselineMedianMs: median(baseline.times),
    baselineP99Ms: percentile(baseline.times, 99),
  };
  if (project && project.matched !== baseline.matched) throw new Error(`project matched ${project.matched} registrations, baseline ${baseline.matched}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
