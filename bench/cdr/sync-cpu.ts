/**
 * CPU and garbage of the CDR sync's pure steps (no I/O), per CDR: rating a page in call order
 * (`rateInOrder`: rateCdr + the charge row) and encoding the charges as the insert's parameters
 * (`chargeInsertParameters`). The CDRs, the deck and the mix (60 % outbound, a third unanswered)
 * are the CDR benchmark's own (`generator.ts`). Timings move with the machine's load; the
 * garbage does not: run it as
 *   node --expose-gc --min-semi-space-size=1 --max-semi-space-size=1 --import tsx bench/cdr/sync-cpu.ts
 * and each scavenge (young-generation collection) stands for about 1 MiB allocated per semi-space
 * (fewer scavenges = less garbage). N=200000 CDRs by default, PAGE=500. Needs
 * `npm run build` first (the packages resolve to dist/).
 *
 * Instruction counts do not move with the load either: PHASES=setup, then PHASES=rate, then
 * PHASES=rate,encode, each under `perf stat -e instructions:u node --import tsx bench/cdr/sync-cpu.ts`;
 * the differences are the steps' own instructions.
 *
 * ALLOC_PROFILE=out.heapprofile samples every allocation of the measured runs, garbage included
 * (open it in Chrome DevTools → Memory): where the garbage comes from.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { rateInOrder, type SourceCdr } from '@ictvoip/operations';
import { chargeInsertParameters } from '@ictvoip/store';
import { benchRating, benchSources } from './rating-fixture';

// What pg does to every parameter before it writes the Bind message (arrays become array literals).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareValue } = require('pg/lib/utils') as { prepareValue: (value: unknown) => unknown };

const N = Number(process.env.N ?? 200_000);
const PAGE = Number(process.env.PAGE ?? 500);
const PHASES = new Set((process.env.PHASES ?? 'rate,encode').split(','));

let scavenges = 0;
let majors = 0;
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    // detail.kind: 1 = minor (scavenge), 4 = major
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === 1) scavenges += 1;
    if (kind === 4) majors += 1;
  }
}).observe({ entryTypes: ['gc'] });

/**
 * GC entries arrive later than the collections: force a full collection (--expose-gc) and wait
 * until its entry is seen, so every collection before it has been counted.
 */
async function settleGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  const seen = majors;
  gc();
  while (majors === seen) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function measure(name: string, pages: readonly (readonly SourceCdr[])[], work: (page: readonly SourceCdr[], index: number) => Promise<unknown> | unknown): Promise<void> {
  for (let i = 0; i < Math.min(pages.length, 40); i += 1) await work(pages[i]!, i);
  await settleGc();
  const [scavengesBefore, gcBefore] = [scavenges, gcMs];
  const session = process.env.ALLOC_PROFILE ? new Session() : null;
  session?.connect();
  await session?.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const cpu = process.cpuUsage();
  for (let i = 0; i < pages.length; i += 1) await work(pages[i]!, i);
  const used = process.cpuUsage(cpu);
  await settleGc();
  if (session) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(`${process.env.ALLOC_PROFILE}.${name.trim().split(' ')[0]}`, JSON.stringify(profile));
    session.disconnect();
  }
  const us = (used.user + used.system) / N;
  const perHundredK = (count: number) => ((count * 100_000) / N).toFixed(0);
  process.stdout.write(
    `${name.padEnd(28)} ${us.toFixed(2)} µs CPU/CDR, ${perHundredK(scavenges - scavengesBefore)} scavenges and ${(((gcMs - gcBefore) * 100_000) / N).toFixed(0)} ms GC per 100k CDRs\n`,
  );
}

async function main(): Promise<void> {
  const all = benchSources(N);
  const pages: SourceCdr[][] = [];
  for (let i = 0; i < all.length; i += PAGE) pages.push(all.slice(i, i + PAGE));
  const serviceRating = benchRating();
  const unlimited = async () => 0;
  // Like the worker, a page's charges are garbage once the page is written (nothing is kept across pages).
  const statuses: Record<string, number> = {};
  if (PHASES.has('rate')) {
    await measure('rateInOrder (rate + row)', pages, async (page) => {
      for (const charge of await rateInOrder(serviceRating, page, unlimited)) statuses[charge.status] = (statuses[charge.status] ?? 0) + 1;
    });
  }
  if (PHASES.has('encode')) {
    await measure('  + insert parameters as sent', pages, async (page) => chargeInsertParameters(await rateInOrder(serviceRating, page, unlimited)).map(prepareValue));
  }
  process.stdout.write(`${N} CDRs in pages of ${PAGE} (rated twice, warm-up included): ${JSON.stringify(statuses)}\n`);
}

void main();
