import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

/**
 * Row access the way FusionPBX's database::save() writes: uuids made by us, insert_date/update_date
 * stamped, '' written as NULL, strings trimmed. Flags are written as the untyped literals
 * 'true'/'false', which PostgreSQL accepts for text (5.1/5.3) and boolean (5.5+) columns alike; the
 * column catalog (read once per pool from information_schema) turns what we read back into the same
 * canonical strings so comparisons do not depend on the schema version.
 */

export type DbValue = string | number | boolean | null | undefined;
export type DesiredRow = Record<string, DbValue>;
/** A row as read back, canonicalised: every value a string or null. */
export type CanonicalRow = Record<string, string | null>;

export interface ColumnCatalog {
  /** table → column → information_schema data_type (e.g. 'text', 'boolean', 'numeric', 'uuid'). */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, string>>;
  hasTable(table: string): boolean;
  hasColumn(table: string, column: string): boolean;
  columnType(table: string, column: string): string | undefined;
}

const catalogs = new WeakMap<Pool, Promise<ColumnCatalog>>();

async function readCatalog(pool: Pool): Promise<ColumnCatalog> {
  const { rows } = await pool.query<{ table_name: string; column_name: string; data_type: string }>(
    `select table_name, column_name, data_type from information_schema.columns
      where table_schema = current_schema() and table_name like 'v\\_%'`,
  );
  const tables = new Map<string, Map<string, string>>();
  for (const row of rows) {
    const columns = tables.get(row.table_name) ?? new Map<string, string>();
    columns.set(row.column_name, row.data_type);
    tables.set(row.table_name, columns);
  }
  return {
    tables,
    hasTable: (table) => tables.has(table),
    hasColumn: (table, column) => tables.get(table)?.has(column) ?? false,
    columnType: (table, column) => tables.get(table)?.get(column),
  };
}

/** The column catalog of a FusionPBX database, read once per pool and cached. */
export function columnCatalog(pool: Pool): Promise<ColumnCatalog> {
  let cached = catalogs.get(pool);
  if (!cached) {
    cached = readCatalog(pool);
    cached.catch(() => catalogs.delete(pool));
    catalogs.set(pool, cached);
  }
  return cached;
}

/** Forgets the cached catalog (after a schema upgrade in a long-running process, or in tests). */
/** Which tag's pages the rows follow. 5.3 added v_xml_cdr_json and the extension language columns (5.1 has neither). */
export type FusionpbxRelease = '5.1' | '5.3';

export function releaseOf(tx: Tx): FusionpbxRelease {
  return tx.catalog.hasTable('v_xml_cdr_json') ? '5.3' : '5.1';
}

export function forgetColumnCatalog(pool: Pool): void {
  catalogs.delete(pool);
}

/** What every repository function gets: the open transaction, the catalog, the acting user. */
export interface Tx {
  readonly client: PoolClient;
  readonly catalog: ColumnCatalog;
  /** FusionPBX user_uuid written to insert_user/update_user; NULL like the CLI when unset. */
  readonly actorUserUuid: string | null;
  /** Dry-run: every insert/update/delete issued is appended here (secrets masked). */
  readonly recorder?: RecordedWrite[];
}

/** One write as a dry-run reports it: the table, the row's own uuid, the columns written. */
export interface RecordedWrite {
  table: string;
  op: 'insert' | 'update' | 'delete';
  key: string | null;
  columns: Record<string, string | null>;
}

export const MASKED_VALUE = '********';
const SECRET_COLUMN = /password|secret|salt|api_key|token/;

/** Column values as a dry-run may show them: passwords, hashes, salts and keys masked. */
export function maskColumns(entries: readonly [string, string | null][]): Record<string, string | null> {
  const columns: Record<string, string | null> = {};
  for (const [column, value] of entries) columns[column] = value !== null && SECRET_COLUMN.test(column) ? MASKED_VALUE : value;
  return columns;
}

/** FusionPBX names a table's key after the table: v_user_groups → user_group_uuid. */
function keyColumnOf(table: string): string {
  return `${table.replace(/^v_/, '').replace(/s$/, '')}_uuid`;
}

export function recordWrite(tx: Tx, write: RecordedWrite): void {
  tx.recorder?.push(write);
}

export function newUuid(): string {
  return randomUUID();
}

/** PHP database::save(): trim strings, '' → NULL, flags → 'true'/'false', numbers → text. */
export function encodeValue(value: DbValue): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function canonical(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function canonicalRow(row: Record<string, unknown>): CanonicalRow {
  const result: CanonicalRow = {};
  for (const [key, value] of Object.entries(row)) result[key] = canonical(value);
  return result;
}

function knownColumns(tx: Tx, table: string, row: DesiredRow): [string, string | null][] {
  return Object.entries(row)
    .filter(([column]) => tx.catalog.hasColumn(table, column))
    .map(([column, value]) => [column, encodeValue(value)]);
}

const IDENT = /^[a-z_][a-z0-9_]*$/;
function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`unsafe SQL identifier ${JSON.stringify(name)}`);
  return name;
}

export async function selectRows(tx: Tx, sql: string, params: unknown[] = []): Promise<CanonicalRow[]> {
  const { rows } = await tx.client.query(sql, params);
  return rows.map((row: Record<string, unknown>) => canonicalRow(row));
}

/** INSERT with insert_date = now(); columns the schema version lacks are skipped. */
export async function insertRow(tx: Tx, table: string, row: DesiredRow): Promise<void> {
  await insertOne(tx, table, row, '');
}

/** insertRow, answering the row as a `select *` would read it back (one statement instead of two). */
export async function insertRowReturning(tx: Tx, table: string, row: DesiredRow): Promise<CanonicalRow> {
  const { rows } = await insertOne(tx, table, row, ' returning *');
  return canonicalRow(rows[0] as Record<string, unknown>);
}

async function insertOne(tx: Tx, table: string, row: DesiredRow, returning: '' | ' returning *'): Promise<{ rows: unknown[] }> {
  const entries = knownColumns(tx, ident(table), row);
  const columns = entries.map(([column]) => ident(column));
  const params: unknown[] = entries.map(([, value]) => value);
  const placeholders = params.map((_, index) => `$${index + 1}`);
  if (tx.catalog.hasColumn(table, 'insert_date')) {
    columns.push('insert_date', 'insert_user');
    placeholders.push('now()', `$${params.length + 1}`);
    params.push(tx.actorUserUuid);
  }
  const result = await tx.client.query(`insert into ${table} (${columns.join(', ')}) values (${placeholders.join(', ')})${returning}`, params);
  if (tx.recorder) recordInserts(tx, table, [entries]);
  return result;
}

/** PostgreSQL's limit is 65535 bind parameters per statement; stay well below it. */
const MAX_PARAMS = 30_000;

/**
 * Multi-row INSERT, the same rows `insertRow` would write one by one (insert_date = now() is the
 * transaction's time either way). Rows are grouped by their column list, so a row never gets an
 * explicit NULL where a single insert would have left the column to its default.
 */
export async function insertRows(tx: Tx, table: string, rows: readonly DesiredRow[]): Promise<void> {
  const audit = tx.catalog.hasColumn(table, 'insert_date');
  for (const [signature, group] of groupedRows(tx, table, rows)) {
    const perRow = group[0].length;
    const chunkSize = Math.max(1, Math.floor((MAX_PARAMS - 1) / Math.max(perRow, 1)));
    for (let start = 0; start < group.length; start += chunkSize) {
      const chunk = group.slice(start, start + chunkSize);
      const params: unknown[] = [];
      if (audit) params.push(tx.actorUserUuid);
      const sql = insertSql(table, signature, chunk, params, audit ? 1 : null);
      await tx.client.query(sql, params);
      recordInserts(tx, table, chunk);
    }
  }
}

/** Rows as known (column, value) entries, grouped by their column list. */
function groupedRows(tx: Tx, table: string, rows: readonly DesiredRow[]): Map<string, [string, string | null][][]> {
  const groups = new Map<string, [string, string | null][][]>();
  for (const row of rows) {
    const entries = knownColumns(tx, ident(table), row);
    const signature = entries.map(([column]) => ident(column)).join(', ');
    const group = groups.get(signature) ?? [];
    group.push(entries);
    groups.set(signature, group);
  }
  return groups;
}

/** One multi-row INSERT; values are appended to `params`; `actorParam` is the insert_user placeholder (null: no audit columns). */
function insertSql(table: string, signature: string, rows: [string, string | null][][], params: unknown[], actorParam: number | null): string {
  const tuples = rows.map((entries) => {
    const placeholders = entries.map(([, value]) => {
      params.push(value);
      return `$${params.length}`;
    });
    if (actorParam !== null) placeholders.push('now()', `$${actorParam}`);
    return `(${placeholders.join(', ')})`;
  });
  const columns = actorParam !== null ? `${signature}, insert_date, insert_user` : signature;
  return `insert into ${table} (${columns}) values ${tuples.join(', ')}`;
}

/** Only a dry-run records its writes: a real run skips masking every column of every row. */
function recordInserts(tx: Tx, table: string, rows: [string, string | null][][]): void {
  if (!tx.recorder) return;
  for (const entries of rows) {
    const key = entries.find(([column]) => column === keyColumnOf(table))?.[1] ?? null;
    recordWrite(tx, { table, op: 'insert', key, columns: maskColumns(entries) });
  }
}

export interface TableRows {
  table: string;
  rows: readonly DesiredRow[];
}

/**
 * The rows of several tables in one statement (each INSERT but the last in a WITH clause), the same
 * rows insertRows writes table by table; falls back to insertRows when they need too many parameters.
 * For tables without references between them (FusionPBX declares none).
 */
export async function insertRowsTogether(tx: Tx, parts: readonly TableRows[]): Promise<void> {
  const params: unknown[] = [];
  let actorParam: number | null = null;
  const statements: string[] = [];
  const recorded: [string, [string, string | null][][]][] = [];
  for (const { table, rows } of parts) {
    const audit = tx.catalog.hasColumn(table, 'insert_date');
    if (audit && actorParam === null) {
      params.push(tx.actorUserUuid);
      actorParam = params.length;
    }
    for (const [signature, group] of groupedRows(tx, table, rows)) {
      statements.push(insertSql(table, signature, group, params, audit ? actorParam : null));
      recorded.push([table, group]);
    }
  }
  if (params.length > MAX_PARAMS) {
    for (const { table, rows } of parts) await insertRows(tx, table, rows);
    return;
  }
  const last = statements.pop();
  if (last === undefined) return;
  const sql = statements.length > 0 ? `with ${statements.map((statement, index) => `w${index} as (${statement})`).join(', ')} ${last}` : last;
  await tx.client.query(sql, params);
  for (const [table, group] of recorded) recordInserts(tx, table, group);
}

/** Inserts collected during a converge and written at its end in one statement. */
export class InsertBatch {
  private readonly parts: { table: string; rows: DesiredRow[] }[] = [];

  add(table: string, rows: readonly DesiredRow[]): void {
    if (rows.length === 0) return;
    const part = this.parts.find((candidate) => candidate.table === table);
    if (part) part.rows.push(...rows);
    else this.parts.push({ table, rows: [...rows] });
  }

  async flush(tx: Tx): Promise<void> {
    const parts = this.parts.splice(0);
    if (parts.length > 0) await insertRowsTogether(tx, parts);
  }
}

/** UPDATE only the given columns plus update_date = now(). */
export async function updateRow(tx: Tx, table: string, keyColumn: string, key: string, changes: DesiredRow): Promise<void> {
  const entries = knownColumns(tx, ident(table), changes);
  if (entries.length === 0) return;
  const params: unknown[] = entries.map(([, value]) => value);
  const sets = entries.map(([column], index) => `${ident(column)} = $${index + 1}`);
  if (tx.catalog.hasColumn(table, 'update_date')) {
    sets.push('update_date = now()', `update_user = $${params.length + 1}`);
    params.push(tx.actorUserUuid);
  }
  params.push(key);
  await tx.client.query(`update ${table} set ${sets.join(', ')} where ${ident(keyColumn)} = $${params.length}`, params);
  if (tx.recorder) recordWrite(tx, { table, op: 'update', key, columns: maskColumns(entries) });
}

/**
 * DELETE of the rows matching `where`. In a dry-run each deleted row is recorded (secrets masked);
 * a real run skips the RETURNING, so mailbox messages are not shipped back for nothing.
 */
export async function deleteRows(tx: Tx, table: string, where: string, params: unknown[]): Promise<number> {
  if (!tx.recorder) return (await tx.client.query(`delete from ${ident(table)} where ${where}`, params)).rowCount ?? 0;
  const { rows } = await tx.client.query(`delete from ${ident(table)} where ${where} returning *`, params);
  for (const raw of rows as Record<string, unknown>[]) {
    const row = canonicalRow(raw);
    recordWrite(tx, { table, op: 'delete', key: row[keyColumnOf(table)] ?? null, columns: maskColumns(Object.entries(row)) });
  }
  return rows.length;
}

/** The columns of `desired` whose encoded value differs from `existing` (canonical strings). */
export function diffRow(tx: Tx, table: string, existing: CanonicalRow, desired: DesiredRow): DesiredRow {
  const changes: DesiredRow = {};
  for (const [column, value] of Object.entries(desired)) {
    if (!tx.catalog.hasColumn(table, column)) continue;
    const want = encodeValue(value);
    const have = existing[column] ?? null;
    if (!sameValue(tx.catalog.columnType(table, column), have, want)) changes[column] = value;
  }
  return changes;
}

function sameValue(type: string | undefined, have: string | null, want: string | null): boolean {
  if (have === want) return true;
  if (have === null || want === null) return false;
  if (type === 'numeric') return Number(have) === Number(want) && have.replace(/\.0+$/, '') === want.replace(/\.0+$/, '');
  if (type === 'uuid') return have.toLowerCase() === want.toLowerCase();
  return false;
}

/** Brings an existing row to `desired`, writing only what differs. Returns true when it wrote. */
export async function convergeRow(tx: Tx, table: string, keyColumn: string, existing: CanonicalRow, desired: DesiredRow): Promise<boolean> {
  const changes = diffRow(tx, table, existing, desired);
  if (Object.keys(changes).length === 0) return false;
  const key = existing[keyColumn];
  if (key === null || key === undefined) throw new Error(`${table} row has no ${keyColumn}`);
  await updateRow(tx, table, keyColumn, key, changes);
  return true;
}

/**
 * Brings many rows of one table to the same `desired` values: one UPDATE per distinct set of changes
 * (usually one), instead of one per row. Returns how many rows it wrote.
 */
export async function convergeRowsTo(tx: Tx, table: string, keyColumn: string, existing: readonly CanonicalRow[], desired: DesiredRow): Promise<number> {
  const groups = new Map<string, { changes: DesiredRow; keys: string[] }>();
  for (const row of existing) {
    const changes = diffRow(tx, table, row, desired);
    if (Object.keys(changes).length === 0) continue;
    const key = row[keyColumn];
    if (key === null || key === undefined) throw new Error(`${table} row has no ${keyColumn}`);
    const signature = JSON.stringify(Object.entries(changes));
    const group = groups.get(signature) ?? { changes, keys: [] };
    group.keys.push(key);
    groups.set(signature, group);
  }
  let written = 0;
  for (const { changes, keys } of groups.values()) {
    await updateRows(tx, table, keyColumn, keys, changes);
    written += keys.length;
  }
  return written;
}

/** UPDATE of the same columns on every row whose key is in `keys`, plus update_date = now(). */
async function updateRows(tx: Tx, table: string, keyColumn: string, keys: readonly string[], changes: DesiredRow): Promise<void> {
  const entries = knownColumns(tx, ident(table), changes);
  if (entries.length === 0 || keys.length === 0) return;
  const params: unknown[] = entries.map(([, value]) => value);
  const sets = entries.map(([column], index) => `${ident(column)} = $${index + 1}`);
  if (tx.catalog.hasColumn(table, 'update_date')) {
    sets.push('update_date = now()', `update_user = $${params.length + 1}`);
    params.push(tx.actorUserUuid);
  }
  params.push([...keys]);
  await tx.client.query(`update ${table} set ${sets.join(', ')} where ${ident(keyColumn)} = any($${params.length})`, params);
  for (const key of keys) recordWrite(tx, { table, op: 'update', key, columns: maskColumns(entries) });
}

/** Dry-run: roll back instead of committing, and record each write issued. */
export interface TransactionMode {
  rollback?: boolean;
  recorder?: RecordedWrite[];
}

/** Runs `work` in one transaction on its own client; rolls back on any error (or always, in a dry-run). */
export async function inTransaction<T>(pool: Pool, actorUserUuid: string | null, work: (tx: Tx) => Promise<T>, mode: TransactionMode = {}): Promise<T> {
  const catalog = await columnCatalog(pool);
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work({ client, catalog, actorUserUuid, recorder: mode.recorder });
    await client.query(mode.rollback ? 'rollback' : 'commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Transaction-scoped advisory lock on a text key (hashed to 64 bits by PostgreSQL). */
export async function lockKey(tx: Tx, key: string): Promise<void> {
  await tx.client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
}
