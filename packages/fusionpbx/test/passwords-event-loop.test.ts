import { monitorEventLoopDelay } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { hashPortalPassword, portalPasswordMatches } from '@ictvoip/fusionpbx';

/** Max event-loop delay (ms) observed while `work` runs, sampled every 5 ms. */
async function maxLoopDelay(work: () => Promise<unknown>): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  await work();
  histogram.disable();
  return histogram.max / 1e6;
}

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
    const inline = await maxLoopDelay(() => Promise.all(passwords.map((password) => bcrypt.hash(password, 10))));
    const pooled = await maxLoopDelay(() => Promise.all(passwords.map((password) => hashPortalPassword(password, 10))));
    console.log(`event-loop max delay during ${CONCURRENT} cost-10 hashes: bcryptjs async ${inline.toFixed(1)} ms, worker pool ${pooled.toFixed(1)} ms`);
    expect(inline).toBeGreaterThan(60); // the old way: each bcryptjs slice holds the loop ~100 ms
    expect(pooled).toBeLessThan(60);
  });
});
