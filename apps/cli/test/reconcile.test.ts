import { Pool } from 'pg';
import { FusionServersRepository } from '@ictvoip/store';
import { buildEvent, createFusionpbxTestDatabase, postWebhook, seedFusionpbxBasics, startEslStandin } from '@ictvoip/testkit';
import { startBridge, TEMPLATE_DOMAIN, waitFor, waitForIdleQueue, type Bridge } from '../../worker/test/harness';
import { databaseDigest, runCli, withoutGenerated } from './run-cli';

let bridge: Bridge;

const cli = (...args: string[]) => runCli(bridge.env, args);

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  await bridge.startWorker({ schedulers: false });
});
afterAll(async () => {
  await bridge.close();
});

it('ictvoip reconcile reports a domain disabled by hand (exit 2), --fix converges it, then reports no drift (exit 0)', async () => {
  const serviceId = 6301;
  expect((await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId })), { query: '?wait=20' })).body.result).toBe('success');
  const domain = `t${serviceId}.pbx.example.net`;
  await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [domain]);

  const report = await cli('reconcile', '--json');
  expect(report.code).toBe(2);
  expect((report.json.report as { items: unknown[] }).items).toEqual([expect.objectContaining({ kind: 'domain_disabled', serviceId, domain, fixAction: 'change_package' })]);
  expect((report.json.report as { whmcsChecked: boolean }).whmcsChecked).toBe(false);

  const fixed = await cli('reconcile', '--fix', '--json');
  expect(fixed.code).toBe(0);
  expect((fixed.json.fix as { fixes: unknown[] }).fixes).toEqual([expect.objectContaining({ serviceId, action: 'change_package', outcome: 'enqueued' })]);
  await waitFor(
    async () => {
      const { rows } = await bridge.fusion.query('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain]);
      return rows[0]?.enabled === 'true';
    },
    20000,
    'the domain to be enabled again',
  );

  const clean = await cli('reconcile');
  expect(clean.code).toBe(0);
  // Three CLI processes, each loading the drift code (compiled in CI, through tsx with ICTVOIP_FROM_SOURCE=1): slow on a busy CI box.
}, 120_000);

it('ictvoip reconcile compares a tenant of a registered FusionPBX server with that server, and --fix converges it there', async () => {
  const fusion2Db = await createFusionpbxTestDatabase('fusion2');
  const fusion2 = new Pool({ connectionString: fusion2Db.url, max: 2 });
  await seedFusionpbxBasics(fusion2, TEMPLATE_DOMAIN);
  const esl2 = await startEslStandin({ password: 'Reconcile-Two-Secret' });
  try {
    await new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing).add({
      name: 'two',
      databaseUrl: fusion2Db.url,
      eslHost: esl2.host,
      eslPort: esl2.port,
      eslPassword: 'Reconcile-Two-Secret',
      whmcsServerId: 2,
    });
    const serviceId = 6302;
    const domain = `t${serviceId}.pbx.example.net`;
    expect((await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId, server: { id: 2 } })), { query: '?wait=20' })).body.result).toBe('success');
    await fusion2.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [domain]);

    const report = await cli('reconcile', '--json');
    expect(report.code).toBe(2);
    expect((report.json.report as { items: unknown[] }).items).toEqual([expect.objectContaining({ kind: 'domain_disabled', serviceId, domain, fixAction: 'change_package' })]);

    expect((await cli('reconcile', '--fix', '--json')).code).toBe(0);
    await waitFor(
      async () => (await fusion2.query('SELECT domain_enabled::text AS enabled FROM v_domains WHERE domain_name = $1', [domain])).rows[0]?.enabled === 'true',
      20000,
      'the domain on #2 to be enabled again',
    );
    expect((await bridge.fusion.query('SELECT count(*)::int AS n FROM v_domains WHERE domain_name = $1', [domain])).rows).toEqual([{ n: 0 }]);
    expect((await cli('reconcile')).code).toBe(0);
  } finally {
    await esl2.stop();
    await fusion2.end();
    await fusion2Db.drop();
  }
}, 180_000);

it('reconcile --fix --dry-run lists the event it would enqueue per service with its rows and event-socket commands, writing nothing; twice alike', async () => {
  const serviceId = 6303;
  expect((await postWebhook(bridge.url, JSON.stringify(buildEvent({ serviceId })), { query: '?wait=20' })).body.result).toBe('success');
  const domain = `t${serviceId}.pbx.example.net`;
  await bridge.fusion.query("UPDATE v_domains SET domain_enabled = 'false' WHERE domain_name = $1", [domain]);
  const bridgeDb = new Pool({ connectionString: bridge.bridgeDb.url, max: 1 });
  const everything = async () => ({
    bridge: await databaseDigest(bridgeDb),
    fusion: await databaseDigest(bridge.fusion),
    provisioning: await bridge.api!.deps.queues.provisioning.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed'),
    eslCommands: bridge.esl.apiCommands.length,
  });
  try {
    // The ?wait answer comes on the finishing commit, a moment before BullMQ moves the create's job to completed.
    await waitForIdleQueue(bridge.api!.deps.queues.provisioning);
    const before = await everything();
    const dry = await runCli(bridge.env, ['reconcile', '--fix', '--dry-run', '--json']);
    expect(dry.code).toBe(2);
    expect(dry.json.dryRun).toBe(true);
    const fixes = (dry.json.fix as { fixes: Record<string, unknown>[] }).fixes;
    expect(fixes).toEqual([
      expect.objectContaining({
        serviceId,
        action: 'change_package',
        kinds: ['domain_disabled'],
        outcome: 'would_enqueue',
        event: expect.objectContaining({ action: 'change_package', origin: 'drift-fix' }),
      }),
    ]);
    const preview = fixes[0]?.preview as { result: string; rows: { table: string; op: string; columns: Record<string, unknown> }[]; eslCommands: string[] };
    expect(preview.result).toBe('dry_run');
    expect(preview.rows).toEqual(
      expect.arrayContaining([expect.objectContaining({ table: 'v_domains', op: 'update', columns: expect.objectContaining({ domain_enabled: 'true' }) })]),
    );
    expect(preview.eslCommands.length).toBeGreaterThan(0);
    const text = await runCli(bridge.env, ['reconcile', '--fix', '--dry-run']);
    expect(text.stdout).toContain(`service ${serviceId}: would enqueue change_package for domain_disabled`);
    expect(text.stdout).toContain('dry run: nothing recorded or enqueued');
    const again = await runCli(bridge.env, ['reconcile', '--fix', '--dry-run', '--json']);
    // Each run has its own report time, and draws a fresh event id and occurredAt; everything else is the same.
    const stable = (json: Record<string, unknown>) => withoutGenerated(JSON.stringify(json)).replace(/"(occurredAt|checkedAt)":"[^"]+"/g, '"$1":"<time>"');
    expect(stable(again.json)).toEqual(stable(dry.json));
    const alone = await runCli(bridge.env, ['reconcile', '--dry-run']);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('--dry-run goes with --fix');
    expect(await everything()).toEqual(before);
  } finally {
    await bridgeDb.end();
  }
}, 180_000);
