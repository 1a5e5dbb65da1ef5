import { Pool } from 'pg';
import { sealedKeyId, sealSecrets } from '@ictvoip/store';
import { createBridgeTestDatabase, testKeyring, testSealingKey, type TestDatabase } from '@ictvoip/testkit';
import { runCli } from './run-cli';

// Each step spawns the CLI (a few seconds each).
jest.setTimeout(180_000);

let db: TestDatabase;
let pool: Pool;
beforeAll(async () => {
  db = await createBridgeTestDatabase('cli_secrets');
  pool = new Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const sealedValues = async () =>
  (await pool.query<{ v: string }>(`SELECT esl_password AS v FROM fusionpbx_servers UNION ALL SELECT database_url FROM fusionpbx_servers ORDER BY 1`)).rows.map((r) => r.v);
const addServer = (name: string, keyId: string) =>
  pool.query(`INSERT INTO fusionpbx_servers (name, database_url, esl_host, esl_port, esl_password) VALUES ($1, $2, 'fs.example.net', 8021, $3)`, [
    name,
    sealSecrets({ url: 'postgres://u:Cli-Url-Secret@db.example.net/fusionpbx' }, testKeyring([keyId])),
    sealSecrets({ password: 'Cli-Esl-Secret' }, testKeyring([keyId])),
  ]);

describe('ictvoip secrets reseal', () => {
  it('re-seals every value under the first key (a dry run first changes nothing), then names values no key opens', async () => {
    await addServer('pbx-a', 'k1');
    const env = { NODE_ENV: 'test', DATABASE_URL: db.url, SEALING_KEY: `${testSealingKey('k2')},${testSealingKey('k1')}` };
    const dry = await runCli(env, ['secrets', 'reseal', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(dry.json).toMatchObject({ keyId: 'k2', dryRun: true, resealed: 2, current: 0, byKeyId: { k1: 2 } });
    expect((await sealedValues()).map(sealedKeyId)).toEqual(['k1', 'k1']);
    const run = await runCli(env, ['secrets', 'reseal']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('re-sealed 2 value(s) under key id "k2"; 0 already under it');
    expect((await sealedValues()).map(sealedKeyId)).toEqual(['k2', 'k2']);

    await addServer('pbx-b', 'k9');
    const stuck = await runCli({ ...env, SEALING_KEY: testSealingKey('k2') }, ['secrets', 'reseal', '--json']);
    expect(stuck.code).toBe(2);
    expect(stuck.stderr).toContain('2 sealed value(s) could not be opened');
    expect(stuck.stdout).toContain('"keyId":"k9"');
    expect(stuck.stdout).toContain('SEALED_SECRET_UNKNOWN_KEY');
    for (const output of [dry.stdout, dry.stderr, run.stdout, run.stderr, stuck.stdout, stuck.stderr]) {
      expect(output).not.toContain('Cli-Esl-Secret');
      expect(output).not.toContain('Cli-Url-Secret');
      for (const id of ['k1', 'k2', 'k9']) expect(output).not.toContain(testSealingKey(id).slice(id.length + 1));
    }
  });
});
