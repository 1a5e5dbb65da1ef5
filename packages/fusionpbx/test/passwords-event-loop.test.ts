import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { hashPortalPassword, portalPasswordMatches } from '@ictvoip/fusionpbx';

interface LoopDelay {
  /** monitorEventLoopDelay's max (ms); 0 samples (blocked throughout) counts as the whole run. */
  max: number;
  /** Share of the run the loop spent in stalls of 20 ms or more (a 1 ms ticker's gaps, the tail included). */
  stalled: number;
}

/** How much the main loop was held up while `work` ran. */
async function loopDelay(work: () => Promise<unknown>): Promise<LoopDelay> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  const started = performance.now();
  let last = started;
  let stalledMs = 0;
  const tick = () => {
    const now = performance.now();
    if (now - last >= 20) stalledMs += now - last;
    last = now;
  };
  const ticker = setInterval(tick, 1);
  histogram.enable();
  await work();
  histogram.disable();
  tick();
  clearInterval(ticker);
  const total = performance.now() - started;
  return { max: histogram.count === 0 ? total : histogram.max / 1e6, stalled: stalledMs / total };
}

const ms = ({ max, stalled }: LoopDelay) => `max delay ${max.toFixed(1)} ms, stalled ${(stalled * 100).toFixed(0)}% of the time`;

const CONCURRENT = 4;

describe('portal password hashing off the event loop', () => {
  test('hashes keep the PHP $2y$ format and verify', async () => {
    const hash = await hashPortalPassword('S3cret-pass!', 10);
    expect(hash).toMatch(/^\$2y\$10\$[./A-Za-z0-9]{53}$/);
    expect(await portalPasswordMatches('S3cret-pass!', hash)).toBe(true);
    expect(await portalPasswordMatches('wrong', hash)).toBe(false);
  });

  test(`${CONCURRENT} concurrent cost-10 hashes do not delay the main loop (bcryptjs async did, ~100 ms slices)`, async () => {
    await hashPortalPassword('warm-up', 4); // the first call starts the worker thread
    const passwords = Array.from({ length: CONCURRENT }, (_, index) => `password-${index}`);
    const inline = await loopDelay(() => Promise.all(passwords.map((password) => bcrypt.hash(password, 10))));
    const pooled = await loopDelay(() => Promise.all(passwords.map((password) => hashPortalPassword(password, 10))));
    console.log(`event-loop delay during ${CONCURRENT} cost-10 hashes: bcryptjs async ${ms(inline)}; worker pool ${ms(pooled)}`);
    // The old way the loop computes the hashes itself (bcryptjs slices of up to 100 ms), so it is
    // stalled nearly all the time; off the loop only scheduling noise is left. A share of time, not a
    // max: on a busy 2-core CI box a single preemption can reach tens of ms whatever the hashing does.
    expect(inline.stalled).toBeGreaterThan(0.5);
    expect(pooled.stalled).toBeLessThan(0.25);
  });
});
