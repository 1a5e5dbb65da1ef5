import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { runCli } from './run-cli';
import { buildEvent, createBridgeTestDatabase, createFusionpbxTestDatabase, seedFusionpbxBasics, startEslStandin, type EslStandin, type TestDatabase } from '@ictvoip/testkit';

// Every step spawns the CLI (about 3 s each on an idle machine, several times that under a parallel test run).
jest.setTimeout(180_000);

const ESL_PASSWORD = 'Cli-Esl-Secret-4411';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

let db: TestDatabase;
let fusionDb: TestDatabase;
let pool: Pool;
let esl: EslStandin;
let env: Record<string, string>;
/** The FusionPBX database URL with a password in it, to look for in every output. */
let secretUrl: string;
const outputs: string[] = [];

async function cli(args: string[], extraEnv: Record<string, string> = {}, input?: string): Promise<Run> {
  const run = await runCli({ ...env, ...extraEnv }, args, input);
  outputs.push(run.stdout, run.stderr);
  return run as Run;
}

beforeAll(async () => {
  [db, fusionDb] = await Promise.all([createBridgeTestDatabase('cli_servers'), createFusionpbxTestDatabase('cli_fusion')]);
  // `servers test` checks the template domain every create copies (FUSIONPBX_TEMPLATE_DOMAIN below).
  const fusion = new Pool({ connectionString: fusionDb.url, max: 1 });
  await fusion.query("INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, 'template.servers.test', 'true')", [randomUUID()]).finally(() => fusion.end());
  pool = new Pool({ connectionString: db.url, max: 2 });
  esl = await startEslStandin({ password: ESL_PASSWORD });
  // Trust auth ignores the password, so the URL works and still carries a secret to look for.
  const url = new URL(fusionDb.url);
  url.password = 'Db-Url-Secret-9090';
  secretUrl = url.toString();
  env = {
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    FUSIONPBX_DATABASE_URL: fusionDb.url,
    FUSIONPBX_TEMPLATE_DOMAIN: 'template.servers.test',
    ESL_HOST: esl.host,
    ESL_PORT: String(esl.port),
    ESL_PASSWORD,
    LOG_LEVEL: 'silent',
  };
});
afterAll(async () => {
  await esl.stop();
  await pool.end();
  await Promise.all([db.drop(), fusionDb.drop()]);
});

const addArgs = (name: string, extra: string[] = []) => [
  'servers',
  'add',
  name,
  '--database-url-env',
  'PBX_DB_URL',
  '--esl-host',
  esl.host,
  '--esl-port',
  String(esl.port),
  '--esl-password-env',
  'PBX_ESL_PASSWORD',
  ...extra,
];
const secretEnv = () => ({ PBX_DB_URL: secretUrl, PBX_ESL_PASSWORD: ESL_PASSWORD });

describe('ictvoip servers', () => {
  it('adds a server with secrets from environment variables, lists it without them, and stores them encrypted', async () => {
    const added = await cli([...addArgs('pbx-b', ['--whmcs-server-id', '2', '--whmcs-hostname', 'pbx-b.example.net']), '--json'], secretEnv());
    expect(added.code).toBe(0);
    expect(added.json.server).toMatchObject({ name: 'pbx-b', whmcsServerId: 2, whmcsHostname: 'pbx-b.example.net', eslPort: esl.port, enabled: true, boundServices: 0 });
    const list = await cli(['servers', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(list.json.default).toMatchObject({ name: 'default', eslHost: esl.host });
    expect(list.json.servers).toHaveLength(1);
    expect(list.json.servers[0].database).toContain(new URL(fusionDb.url).pathname);
    const text = await cli(['servers', 'list']);
    expect(text.stdout).toMatch(/^default\tenabled/m);
    expect(text.stdout).toMatch(/^pbx-b\tenabled\twhmcs id 2, whmcs host pbx-b\.example\.net/m);
    const { rows } = await pool.query('SELECT row_to_json(s)::text AS row FROM fusionpbx_servers s');
    expect(rows[0].row).not.toContain(ESL_PASSWORD);
    expect(rows[0].row).not.toContain('Db-Url-Secret-9090');
  });

  it('takes a secret from standard input', async () => {
    const added = await cli(
      ['servers', 'add', 'pbx-c', '--database-url-env', 'PBX_DB_URL', '--esl-host', esl.host, '--esl-port', String(esl.port), '--esl-password-stdin', '--json'],
      secretEnv(),
      `${ESL_PASSWORD}\n`,
    );
    expect(added.code).toBe(0);
    const tested = await cli(['servers', 'test', 'pbx-c', '--json']);
    expect(tested.json).toMatchObject({ server: 'pbx-c', ok: true });
    expect((await cli(['servers', 'remove', 'pbx-c'])).code).toBe(0);
  });

  it('tests a server: database and event socket each reported; a wrong password fails with exit 2', async () => {
    const ok = await cli(['servers', 'test', 'pbx-b']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/pbx-b database: ok \(\d+ ms, \d+ domains, the template domain among them\)/);
    expect(ok.stdout).toMatch(/pbx-b event socket: ok/);
    const viaDefault = await cli(['servers', 'test', 'default', '--json']);
    expect(viaDefault.json).toMatchObject({ server: 'default', ok: true });
    // A template domain the database does not have: every create would fail, so the test does.
    const typo = await cli(['servers', 'test', 'default', '--json'], { FUSIONPBX_TEMPLATE_DOMAIN: 'typo.example.net' });
    expect(typo.code).toBe(2);
    expect(typo.json.checks).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'database', ok: false, detail: expect.stringContaining('FUSIONPBX_TEMPLATE_DOMAIN typo.example.net') })]),
    );
    expect((await cli(addArgs('pbx-wrong'), { ...secretEnv(), PBX_ESL_PASSWORD: 'not-the-password' })).code).toBe(0);
    const bad = await cli(['servers', 'test', 'pbx-wrong', '--json']);
    expect(bad.code).toBe(2);
    expect(bad.json.ok).toBe(false);
    expect(bad.json.checks).toEqual([expect.objectContaining({ name: 'database', ok: true }), expect.objectContaining({ name: 'event socket', ok: false })]);
    expect(bad.stdout).not.toContain('not-the-password');
    // Rotating the password in place (the only way for a server that has tenants).
    const rotated = await cli(['servers', 'update', 'pbx-wrong', '--esl-password-env', 'PBX_ESL_PASSWORD', '--json'], secretEnv());
    expect(rotated.code).toBe(0);
    expect(rotated.json.server).toMatchObject({ name: 'pbx-wrong', whmcsServerId: null });
    expect((await cli(['servers', 'test', 'pbx-wrong', '--json'])).json).toMatchObject({ ok: true });
    const nothing = await cli(['servers', 'update', 'pbx-wrong']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('nothing to change');
    const taken = await cli(['servers', 'update', 'pbx-wrong', '--whmcs-server-id', '2']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('already mapped to another server');
    expect((await cli(['servers', 'update', 'nope', '--esl-port', '8022'])).stderr).toContain('no FusionPBX server named nope');
    const unknown = await cli(['servers', 'test', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no FusionPBX server named nope');
  });

  it('refuses bad input with a message naming the field, and writes nothing', async () => {
    // Each field's rule is tested on the repository (packages/store); here: the CLI names the field and exits 1.
    const cases: [string[], Record<string, string>, RegExp][] = [
      [addArgs('Bad_Name'), secretEnv(), /name: must be 1-63 characters/],
      [addArgs('pbx-d'), { ...secretEnv(), PBX_DB_URL: 'mysql://user:Db-Url-Secret-9090@host/db' }, /databaseUrl: must be a postgres:\/\//],
      [addArgs('pbx-d'), { PBX_DB_URL: secretUrl }, /--esl-password-env: environment variable PBX_ESL_PASSWORD is not set/],
      [[...addArgs('pbx-d'), '--esl-password', 'x'], secretEnv(), /give the esl-password once/],
      [addArgs('pbx-d', ['--whmcs-server-id', '2']), secretEnv(), /WHMCS server id 2 is already mapped/],
      [
        ['servers', 'add', 'pbx-d', '--database-url-env', 'PBX_DB_URL', '--esl-host', esl.host, '--esl-port', '70000', '--esl-password-env', 'PBX_ESL_PASSWORD'],
        secretEnv(),
        /--esl-port must be an integer from 1 to 65535/,
      ],
    ];
    for (const [args, extra, message] of cases) {
      const run = await cli(args, extra);
      expect({ args, code: run.code }).toEqual({ args, code: 1 });
      expect(run.stderr).toMatch(message);
    }
    const { rows } = await pool.query('SELECT name FROM fusionpbx_servers ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(['pbx-b', 'pbx-wrong']);
  });

  it('preview reads the FusionPBX server the event would be routed to', async () => {
    const otherDb = await createFusionpbxTestDatabase('cli_fusion_d');
    const other = new Pool({ connectionString: otherDb.url, max: 1 });
    try {
      await seedFusionpbxBasics(other, 'template.pbx.test');
      const defaultFusion = new Pool({ connectionString: fusionDb.url, max: 1 });
      await seedFusionpbxBasics(defaultFusion, 'template.pbx.test').finally(() => defaultFusion.end());
      // The tenant's domain name is already taken on server #4 only: a preview there must say so.
      await other.query("INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ($1, 't8801.pbx.example.net', 'true')", [randomUUID()]);
      expect(
        (
          await cli(
            [
              'servers',
              'add',
              'pbx-d',
              '--database-url',
              otherDb.url,
              '--esl-host',
              esl.host,
              '--esl-port',
              String(esl.port),
              '--esl-password-env',
              'PBX_ESL_PASSWORD',
              '--whmcs-server-id',
              '4',
            ],
            secretEnv(),
          )
        ).code,
      ).toBe(0);
      const event = (server: Record<string, unknown>) => JSON.stringify(buildEvent({ serviceId: 8801, server }));
      const onDefault = await cli(['preview', '-', '--json'], { FUSIONPBX_TEMPLATE_DOMAIN: 'template.pbx.test' }, event({ id: 1 }));
      const onD = await cli(['preview', '-', '--json'], { FUSIONPBX_TEMPLATE_DOMAIN: 'template.pbx.test' }, event({ id: 4 }));
      expect({ defaultResult: onDefault.json.result, dResult: onD.json.result, dCode: onD.json.code }).toEqual({
        defaultResult: 'dry_run',
        dResult: 'error',
        dCode: expect.any(String),
      });
      expect(onD.code).toBe(1);
      expect((await cli(['servers', 'remove', 'pbx-d'])).code).toBe(0);
    } finally {
      await other.end();
      await otherDb.drop();
    }
  });

  it('removes a server only once none of its services is live (purged ones do not count)', async () => {
    await pool.query(`INSERT INTO services (service_id, client_id, desired_state, fusionpbx_server) VALUES (777, 1, 'active', 'pbx-b')`);
    const refused = await cli(['servers', 'remove', 'pbx-b', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({ error: { code: 'FUSIONPBX_SERVER_IN_USE' } });
    expect(refused.stderr).toContain('pbx-b still has 1 live service(s)');
    expect(refused.stderr).toContain('ictvoip tenants list --server pbx-b');
    expect((await cli(['servers', 'list', '--json'])).json.servers.find((s: { name: string }) => s.name === 'pbx-b')).toMatchObject({ boundServices: 1 });
    await pool.query(`INSERT INTO services (service_id, client_id, desired_state) VALUES (778, 1, 'active')`);
    const onB = await cli(['tenants', 'list', '--server', 'pbx-b', '--json']);
    expect(onB.json.tenants).toEqual([expect.objectContaining({ serviceId: 777, server: 'pbx-b' })]);
    const onDefault = await cli(['tenants', 'list', '--server', 'default', '--json']);
    expect(onDefault.json.tenants).toEqual([expect.objectContaining({ serviceId: 778, server: null })]);
    expect((await cli(['tenants', 'list'])).stdout).toMatch(/^777\t-\tpbx-b\tdesired active/m);
    await pool.query('DELETE FROM services WHERE service_id = 778');
    // Terminated and purged, it no longer holds the decommissioned server (it keeps its name).
    await pool.query("UPDATE services SET desired_state = 'terminated', observed_state = 'purged' WHERE service_id = 777");
    expect((await cli(['servers', 'remove', 'pbx-b'])).stdout).toContain('removed pbx-b');
    await pool.query('DELETE FROM services WHERE service_id = 777');
    const again = await cli(['servers', 'remove', 'pbx-b']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no FusionPBX server named pbx-b');
    expect((await cli(['servers', 'remove', 'pbx-wrong'])).code).toBe(0);
  });

  it('stores a cache method per server (--cache-method, --cache-dir), shows it, refuses what cannot work, and warns about a server that follows FUSIONPBX_CACHE_METHOD=file', async () => {
    const added = await cli(addArgs('pbx-cache', ['--cache-method', 'file-esl', '--json']), secretEnv());
    expect(added.code).toBe(0);
    expect(added.json.server).toMatchObject({ name: 'pbx-cache', cacheMethod: 'file-esl', cacheDir: null, cache: { method: 'file-esl', dir: null, source: 'server' } });
    const list = await cli(['servers', 'list', '--json']);
    expect(list.json.default).toMatchObject({ cache: { method: 'file-esl', source: 'FUSIONPBX_CACHE_METHOD' } });
    expect(list.json.servers).toEqual([expect.objectContaining({ name: 'pbx-cache', cacheMethod: 'file-esl', cache: expect.objectContaining({ source: 'server' }) })]);
    const text = await cli(['servers', 'list'], { FUSIONPBX_CACHE_METHOD: 'memcache' });
    expect(text.stdout).toMatch(/^default\tenabled\t.*\tcache memcache \(FUSIONPBX_CACHE_METHOD\)$/m);
    expect(text.stdout).toMatch(/^pbx-cache\tenabled\t.*\tcache file-esl$/m);

    // Each refused with exit 1, naming the flag, and nothing stored.
    const refusals: [string[], Record<string, string>, RegExp][] = [
      [['--cache-method', 'redis'], {}, /--cache-method must be one of file-esl, memcache, file/],
      [['--cache-method', 'file'], {}, /--cache-dir: the file cache method needs this server's cache directory/],
      [['--cache-dir', '/mnt/pbx-bad/cache'], {}, /--cache-dir: is only for the file cache method/],
      [['--cache-method', 'memcache', '--cache-dir', '/mnt/pbx-bad/cache'], {}, /--cache-dir: is only for the file cache method/],
      [['--cache-method', 'file', '--cache-dir', 'relative/cache'], {}, /--cache-dir: must be an absolute path/],
      [[], { FUSIONPBX_CACHE_METHOD: 'file' }, /--cache-method: FUSIONPBX_CACHE_METHOD is file .* cannot clear a registered server's cache/],
    ];
    for (const [extra, extraEnv, message] of refusals) {
      const run = await cli(addArgs('pbx-bad', extra), { ...secretEnv(), ...extraEnv });
      expect({ extra, code: run.code, stderr: run.stderr }).toEqual({ extra, code: 1, stderr: expect.stringMatching(message) });
    }
    const names = async () => (await pool.query('SELECT name FROM fusionpbx_servers ORDER BY name')).rows.map((r) => r.name);
    expect(await names()).toEqual(['pbx-cache']);

    // Under FUSIONPBX_CACHE_METHOD=file: following it is refused on update too; the file method with a directory of its own is taken.
    const underFile = { FUSIONPBX_CACHE_METHOD: 'file' };
    const back = await cli(['servers', 'update', 'pbx-cache', '--no-cache-method'], underFile);
    expect({ code: back.code, stderr: back.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('--cache-method: FUSIONPBX_CACHE_METHOD is file') });
    const dir = mkdtempSync(join(tmpdir(), 'pbx-cache-'));
    const toFile = await cli(['servers', 'update', 'pbx-cache', '--cache-method', 'file', '--cache-dir', dir, '--json'], underFile);
    expect(toFile.json.server).toMatchObject({ cacheMethod: 'file', cacheDir: dir, cache: { method: 'file', dir, source: 'server' } });
    const tested = await cli(['servers', 'test', 'pbx-cache', '--json'], underFile);
    expect(tested.json).toMatchObject({ ok: true, cache: { method: 'file', dir } });
    expect(tested.json.checks).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'cache directory', ok: true })]));

    // A server stored before the per-server method (NULL) behaves as before; with FUSIONPBX_CACHE_METHOD=file it is warned about by name.
    await pool.query("UPDATE fusionpbx_servers SET cache_method = NULL, cache_dir = NULL WHERE name = 'pbx-cache'");
    const asBefore = await cli(['servers', 'test', 'pbx-cache', '--json']);
    expect(asBefore.json).toMatchObject({ ok: true, cache: { method: 'file-esl', source: 'FUSIONPBX_CACHE_METHOD' } });
    const warned = await cli(['servers', 'test', 'pbx-cache'], underFile);
    expect(warned.code).toBe(2);
    expect(warned.stdout).toMatch(
      /^pbx-cache cache: FAILED \(0 ms, pbx-cache has no cache method of its own and FUSIONPBX_CACHE_METHOD is file.*ictvoip servers update pbx-cache --cache-method file-esl/m,
    );
    const listed = await cli(['servers', 'list'], underFile);
    expect(listed.stdout).toMatch(/^pbx-cache\t.*\tcache file \S+ \(FUSIONPBX_CACHE_METHOD\) NOT CLEARED$/m);
    expect(listed.stdout).toMatch(/^WARNING: pbx-cache has no cache method of its own/m);
    const mended = await cli(['servers', 'update', 'pbx-cache', '--cache-method', 'memcache', '--json'], underFile);
    expect(mended.json.server).toMatchObject({ cacheMethod: 'memcache', cacheDir: null });
    expect(mended.json.server.warning).toBeUndefined();
    expect((await cli(['servers', 'remove', 'pbx-cache'])).code).toBe(0);
  });

  it('never printed a secret in any of the runs above', () => {
    const all = outputs.join('\n');
    expect(all).not.toContain(ESL_PASSWORD);
    expect(all).not.toContain('Db-Url-Secret-9090');
  });
});
