import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
// The schema loader and the seeding are production code (the demo FusionPBX of `npm start`); the
// test kit uses them for its test databases. Imported by name (resolved in the workspace) but not
// declared in package.json: @ictvoip/fusionpbx's own tests depend on this kit, and a declared
// dependency both ways is a cycle for turbo.
import { FUSIONPBX_FIXTURE_PATH, loadFusionpbxSchemaFile, prepareFusionpbxSchemaSql } from '@ictvoip/fusionpbx';
import { createTemplatedTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database';

export { FUSIONPBX_FIXTURE_PATH, seedFusionpbxBasics, type FusionpbxBasics } from '@ictvoip/fusionpbx';

export interface LoadedFusionpbxSchema {
  /** The file that was loaded (FUSIONPBX_SCHEMA or the fixture). */
  schemaPath: string;
  /** Short label for test names: the file's base name. */
  label: string;
}

/**
 * The schema file to use: env FUSIONPBX_SCHEMA (e.g. fixtures/fusionpbx/schema-5.1.sql in the repository) or the fixture.
 * schema-5.1.sql and schema-5.3.sql load as-is into PostgreSQL 15 (plain CREATE TABLE, uuid columns
 * without defaults, no extension needed); the loader still strips psql meta-commands (a pg_dump of a
 * real install starts with `\connect` etc.) and creates pgcrypto/uuid-ossp first if the file uses them.
 */
export function fusionpbxSchemaPath(): string {
  return process.env.FUSIONPBX_SCHEMA && process.env.FUSIONPBX_SCHEMA.trim() !== '' ? process.env.FUSIONPBX_SCHEMA : FUSIONPBX_FIXTURE_PATH;
}

/** Loads the FusionPBX schema into an (empty) database. */
export async function loadFusionpbxSchema(databaseUrl: string): Promise<LoadedFusionpbxSchema> {
  const schemaPath = fusionpbxSchemaPath();
  await loadFusionpbxSchemaFile(databaseUrl, schemaPath);
  recordLoad(schemaPath);
  return { schemaPath, label: path.basename(schemaPath, '.sql') };
}

/**
 * A new test database holding the FusionPBX schema (FUSIONPBX_SCHEMA or the fixture), the same as an empty
 * one after `loadFusionpbxSchema`, but copied from a template database made once per schema (the SQL the
 * loader runs is the template's key, so an edited schema file makes a new one).
 */
export async function createFusionpbxTestDatabase(label: string, options: TestDatabaseOptions = {}): Promise<TestDatabase & LoadedFusionpbxSchema> {
  const schemaPath = fusionpbxSchemaPath();
  const key = `fusionpbx-schema\n${prepareFusionpbxSchemaSql(readFileSync(schemaPath, 'utf8'))}`;
  const db = await createTemplatedTestDatabase(label, key, (url) => loadFusionpbxSchemaFile(url, schemaPath), options);
  recordLoad(schemaPath);
  return { ...db, schemaPath, label: path.basename(schemaPath, '.sql') };
}

/**
 * With FUSIONPBX_SCHEMA_LOADS naming a file, each load appends the jest test file that made it: CI runs
 * exactly those files again against the other full schema (scripts/fusionpbx-schema-tests.js).
 */
function recordLoad(schemaPath: string): void {
  const file = process.env.FUSIONPBX_SCHEMA_LOADS;
  if (!file) return;
  const jestExpect = (globalThis as { expect?: { getState?: () => { testPath?: string } } }).expect;
  const testPath = jestExpect?.getState?.().testPath ?? `(outside jest: pid ${process.pid})`;
  appendFileSync(file, `${testPath}\t${schemaPath}\n`);
}
