import { startTestApi, type TestApi } from './harness';

/**
 * /readyz's FusionPBX database check reads FusionPBX's schema, not just `SELECT 1`: an empty or wrong
 * database (a typo in FUSIONPBX_DATABASE_URL's database name that still connects) is down, and says why.
 */
let t: TestApi;
beforeAll(async () => {
  // The test API's FusionPBX URL is its own bridge database: reachable, without FusionPBX's tables.
  t = await startTestApi();
});
afterAll(async () => {
  await t?.close();
});

it('is 503 with the FusionPBX database down when it has no FusionPBX schema, naming the missing relation', async () => {
  const res = await fetch(`${t.url}/readyz`);
  expect(res.status).toBe(503);
  const body = (await res.json()) as { checks: Record<string, { status: string; error?: string }> };
  expect(body.checks.fusionpbxDatabase).toMatchObject({ status: 'down', error: expect.stringContaining('relation "v_domains" does not exist') });
  expect(body.checks.database).toMatchObject({ status: 'up' });
});
