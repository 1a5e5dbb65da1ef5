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

it('reads FusionPBX’s schema once per request, for both the database and the template-domain check', async () => {
  // A v_domains that counts its reads: a sequence bumped by every scan of the view.
  const db = t.api.deps.pool;
  await db.query('CREATE SEQUENCE readyz_reads');
  await db.query(`CREATE VIEW v_domains AS SELECT $$${t.config.fusionpbx.templateDomain}$$::text AS domain_name, nextval('readyz_reads') AS readz`);
  try {
    const res = await fetch(`${t.url}/readyz`);
    const body = (await res.json()) as { checks: Record<string, { status: string }> };
    expect(body.checks).toMatchObject({ database: { status: 'up' }, fusionpbxDatabase: { status: 'up' }, templateDomain: { status: 'up' } });
    const { rows } = await db.query<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM readyz_reads');
    expect(rows[0]).toEqual({ last_value: '1', is_called: true });
  } finally {
    await db.query('DROP VIEW v_domains; DROP SEQUENCE readyz_reads');
  }
});
