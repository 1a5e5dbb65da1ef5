// The FusionPBX schema loader and demo set-up are library code: the connection they open carries the
// name their caller gives (`ictvoip start --demo` gives `ictvoip-cli fs:default`), never the CLI's name
// for any other caller (the test kit's schema loads showed as `ictvoip-cli fs:default`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { loadFusionpbxSchemaFile } from '@ictvoip/fusionpbx';
import { createTestDatabase, loadFusionpbxSchema, type TestDatabase } from '@ictvoip/testkit';

let dir: string;
let schema: string;
const databases: TestDatabase[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ictvoip-schema-name-'));
  // A "schema" that keeps the name of the connection loading it.
  schema = join(dir, 'schema.sql');
  writeFileSync(schema, "CREATE TABLE loaded_by AS SELECT current_setting('application_name') AS name;\n");
});

afterAll(async () => {
  for (const db of databases) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function loadedBy(url: string): Promise<string> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    return (await pool.query<{ name: string }>('SELECT name FROM loaded_by')).rows[0]!.name;
  } finally {
    await pool.end();
  }
}

test('a schema load names its connection only as its caller asks', async () => {
  const db = await createTestDatabase('schema_name');
  databases.push(db);
  await loadFusionpbxSchemaFile(db.url, schema);
  expect(await loadedBy(db.url)).toBe('');
});

test('the name asked for is the one the connection carries', async () => {
  const db = await createTestDatabase('schema_name_cli');
  databases.push(db);
  await loadFusionpbxSchemaFile(db.url, schema, { applicationName: 'ictvoip-cli fs:default' });
  expect(await loadedBy(db.url)).toBe('ictvoip-cli fs:default');
});

test("the test kit's FusionPBX databases are not loaded under the CLI's name", async () => {
  const before = process.env.FUSIONPBX_SCHEMA;
  process.env.FUSIONPBX_SCHEMA = schema;
  try {
    // The loader createFusionpbxTestDatabase fills its templates with (a template would outlive the test).
    const db = await createTestDatabase('schema_name_kit');
    databases.push(db);
    await loadFusionpbxSchema(db.url);
    expect(await loadedBy(db.url)).not.toMatch(/^ictvoip-cli/);
  } finally {
    if (before === undefined) delete process.env.FUSIONPBX_SCHEMA;
    else process.env.FUSIONPBX_SCHEMA = before;
  }
});
