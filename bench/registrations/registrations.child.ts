/** Child process of registrations.bench.ts: prints one JSON line (RegistrationsChildResult). */
import { XMLParser } from 'fast-xml-parser';
import { parseRegistrationsForDomain } from '@ictvoip/freeswitch';
import { elapsedMs, median, percentile } from '../lib/stats';
import { registrationsXml, tenantDomain } from './generator';
import type { RegistrationsChildResult } from './registrations.bench';

const count = Number(process.env.BENCH_REGISTRATIONS ?? 10_000);
const domains = Number(process.env.BENCH_DOMAINS ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 20);

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

const REGISTRATION_BLOCK = /<registration>[\s\S]*?<\/registration>/g;

function main(): void {
  const xml = registrationsXml(count, domains);
  const domain = tenantDomain(1);
  const bare = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'registration' });
  // The fair baseline: the same block prefilter the project uses, then a bare parse and filter
  // (no mapping, no URL decoding, no status split).
  const bareCase = () => {
    const blocks = [...xml.matchAll(REGISTRATION_BLOCK)].map((match) => match[0]).filter((block) => block.toLowerCase().includes(domain));
    const document = bare.parse(`<profile><registrations>${blocks.join('')}</registrations></profile>`) as {
      profile: { registrations: { registration?: { 'sip-auth-realm'?: string; user: string }[] } };
    };
    return (document.profile.registrations.registration ?? []).filter((entry) => entry['sip-auth-realm'] === domain || entry.user.endsWith(`@${domain}`)).length;
  };
  const projectCase = () => parseRegistrationsForDomain(xml, 'internal', domain).length;
  const [baseline, project] = timeAlternating(rounds, [bareCase, projectCase]);
  const result: RegistrationsChildResult = {
    medianMs: median(project.times),
    p99Ms: percentile(project.times, 99),
    bytes: Buffer.byteLength(xml),
    matched: project.matched,
    baselineMatched: baseline.matched,
    baselineMedianMs: median(baseline.times),
    baselineP99Ms: percentile(baseline.times, 99),
  };
  if (project.matched !== baseline.matched) throw new Error(`project matched ${project.matched} registrations, baseline ${baseline.matched}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
