import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { hashPortalPassword, portalPasswordMatches } from '@ictvoip/fusionpbx';

interface LoopDelay {
  /** monitorEventLoopDelay's max (ms); 0 samples (blocked throughout) counts as the whole run. */
  max: number;
  /**
   * The main loop's utilization while `work` ran (performance.eventLoopUtilization): the share of wall
   * time it spent running callbacks rather than waiting for I/O. A hash computed on the loop keeps it
   * near 1; one computed on another thread leaves it near 0, however busy the box: a loop preempted
   * while it waits still counts as waiting, so CPU contention from other processes does not move it
   * (a share of 20 ms stalls did: 34 % on a loaded CI box with the hashes off the loop).
   */
  utilization: number;
}

/** How much the main loop was held up while `work` ran. */
async function loopDelay(work: () => Promise<unknown>): Promise<LoopDelay> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  const started = performance.now();
  const before = performance.eventLoopUtilization();
  histogram.enable();
  await work();
  histogram.disable();
  const { utilization } = performance.eventLoopUtilization(before);
  const total = performance.now() - started;
  return { max: histogram.count === 0 ? total : histogram.max / 1e6, utilization };
}

const ms = ({ max, utilization }: LoopDelay) => `max delay ${max.toFixed(1)} ms, loop busy ${(utilization * 100).toFixed(0)}% of the time`;

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
    // The old way the loop computes the hashes itself (bcryptjs slices of up to 100 ms), so it is busy
    // nearly all the time; off the loop it only passes messages. Not a delay: on a busy 2-core CI box
    // the OS's preemptions delay the loop whatever the hashing does.
    expect(inline.utilization).toBeGreaterThan(0.5);
    expect(pooled.utilization).toBeLessThan(0.25);
  });
});
