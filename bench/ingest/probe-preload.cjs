'use strict';
// Preloaded (`--require`) into an API process by bench/ingest/p99-probe.ts: counts its GC pauses by
// kind and its event-loop delay, and appends them as one JSON line to PROBE_OUT on SIGUSR2 (then resets).
const { monitorEventLoopDelay, PerformanceObserver, constants } = require('node:perf_hooks');
const { appendFileSync } = require('node:fs');

const out = process.env.PROBE_OUT;
const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'markCompact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
let gc = {};
let pauses = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = KINDS[entry.detail ? entry.detail.kind : entry.kind] || 'other';
    const slot = (gc[kind] ??= { count: 0, ms: 0, maxMs: 0 });
    slot.count += 1;
    slot.ms += entry.duration;
    slot.maxMs = Math.max(slot.maxMs, entry.duration);
    pauses.push(entry.duration);
  }
}).observe({ entryTypes: ['gc'] });
let since = process.hrtime.bigint();
process.on('SIGUSR2', () => {
  const now = process.hrtime.bigint();
  const ms = (value) => Math.round(value / 1e4) / 100;
  const sorted = pauses.slice().sort((a, b) => a - b);
  const line = {
    wallMs: Number(now - since) / 1e6,
    loopDelay: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), mean: ms(delay.mean) },
    gc,
    gcPauseP99: sorted.length ? sorted[Math.floor(sorted.length * 0.99)] : 0,
    heapMiB: Math.round(process.memoryUsage().heapUsed / 1048576),
    newSpaceMiB: Math.round(
      (
        require('node:v8')
          .getHeapSpaceStatistics()
          .find((space) => space.space_name === 'new_space') || { space_size: 0 }
      ).space_size / 1048576,
    ),
  };
  if (out) appendFileSync(out, JSON.stringify(line) + '\n');
  delay.reset();
  gc = {};
  pauses = [];
  since = now;
});

// PROBE_ALLOC=<file>: an allocation profile (garbage included) from one SIGUSR2 to the next, written to <file>.
if (process.env.PROBE_ALLOC) {
  const { Session } = require('node:inspector');
  const { writeFileSync } = require('node:fs');
  const session = new Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    session.post('HeapProfiler.stopSampling', (error, result) => {
      if (!error) writeFileSync(process.env.PROBE_ALLOC, JSON.stringify(result.profile));
    });
  });
}
