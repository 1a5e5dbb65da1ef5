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
}

function time(rounds: number, work: () => number): { times: number[]; matched: number } {
  let matched = 0;
  for (let i = 0; i < 3; i += 1) matched = work();
  const times: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const start = process.hrtime.bigint();
    matched = work();
    times.push(elapsedMs(start));
  }
  return { times, matched };
}

function main(): void {
  const xml = registrationsXml(count, domains);
  const domain = tenantDomain(1);
  const parser = fusionpbx as unknown as Partial<Parser>;
  const bare = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'registration' });
  const baseline = time(rounds, () => {
    const document = bare.parse(xml) as { profile: { registrations: { registration: { 'sip-auth-realm'?: string; user: string }[] } } };
    return document.profile.registrations.registration.filter((entry) => entry['sip-auth-realm'] === domain || entry.user.endsWith(`@${domain}`)).length;
  });
  const result: RegistrationsChildResult = {
    available: typeof parser.parseRegistrationsXml === 'function' && typeof parser.registrationsForDomain === 'function',
    medianMs: Number.NaN,
    p99Ms: Number.NaN,
    bytes: Buffer.byteLength(xml),
    matched: 0,
    baselineMatched: baseline.matched,
    baselineMedianMs: median(baseline.times),
    baselineP99Ms: percentile(baseline.times, 99),
  };
  if (result.available) {
    const { parseRegistrationsXml, registrationsForDomain } = parser as Parser;
    const project = time(rounds, () => registrationsForDomain(parseRegistrationsXml(xml, 'internal'), domain).length);
    if (project.matched !== baseline.matched) throw new Error(`project matched ${project.matched} registrations, baseline ${baseline.matched}`);
    Object.assign(result, { medianMs: median(project.times), p99Ms: percentile(project.times, 99), matched: project.matched });
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
