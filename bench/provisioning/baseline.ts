import type { Pool } from 'pg';
import { elapsedMs } from '../lib/stats';

/**
 * The provisioning baseline: the rows a provisioned tenant consists of (every table with a
 * domain_uuid column, v_domains included), read from the project's FusionPBX database and written
 * into another one with ONE multi-row INSERT per table, one transaction per tenant. That is the
 * floor for "make these rows exist": no lookups, no convergence, no FreeSWITCH.
 */

interface TableColumns {
  table: string;
  columns: string[];
}

export interface CopyResult {
  tables: string[];
  rowsPerTenant: number;
  perTenantMs: number[];
  totalMs: number;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function tablesWithDomainUuid(pool: Pool): Promise<TableColumns[]> {
  const { rows } = await pool.query<{ table_name: string; columns: string[] }>(
    `SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) AS columns
       FROM information_schema.columns
      WHERE table_schema = 'public'
        AND table_name IN (SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'domain_uuid')
      GROUP BY table_name`,
  );
  return rows.map((row) => ({ table: row.table_name, columns: row.columns }));
}

type Row = Record<string, unknown>;

async function tenantRows(source: Pool, tables: TableColumns[], domainName: string): Promise<Map<TableColumns, Row[]>> {
  const { rows: domains } = await source.query<{ domain_uuid: string }>('SELECT domain_uuid FROM v_domains WHERE domain_name = $1', [domainName]);
  if (!domains[0]) throw new Error(`baseline: domain ${domainName} not found in the project's database`);
  const result = new Map<TableColumns, Row[]>();
  for (const table of tables) {
    // Read back as text so the INSERT gets exactly what PostgreSQL printed (no JS Date/number round trip).
    const list = table.columns.map((column) => `${quote(column)}::text AS ${quote(column)}`).join(', ');
    const { rows } = await source.query<Row>(`SELECT ${list} FROM ${quote(table.table)} WHERE domain_uuid = $1`, [domains[0].domain_uuid]);
    if (rows.length > 0) result.set(table, rows);
  }
  return result;
}

function multiRowInsert(table: TableColumns, rows: Row[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const tuples = rows.map((row) => `(${table.columns.map((column) => `$${values.push(row[column])}`).join(', ')})`);
  return { text: `INSERT INTO ${quote(table.table)} (${table.columns.map(quote).join(', ')}) VALUES ${tuples.join(', ')}`, values };
}

/** Table order that satisfies foreign keys when there are any: the domain first. */
function ordered(tables: Iterable<TableColumns>): TableColumns[] {
  return [...tables].sort((a, b) => (a.table === 'v_domains' ? -1 : b.table === 'v_domains' ? 1 : a.table.localeCompare(b.table)));
}

export async function copyTenantsWithMultiRowInserts(source: Pool, target: Pool, domainNames: string[]): Promise<CopyResult> {
  const tables = await tablesWithDomainUuid(source);
  const snapshots = [];
  for (const name of domainNames) snapshots.push(await tenantRows(source, tables, name));
  const statements = snapshots.map((snapshot) => ordered(snapshot.keys()).map((table) => multiRowInsert(table, snapshot.get(table) ?? [])));
  const client = await target.connect();
  const perTenantMs: number[] = [];
  const start = process.hrtime.bigint();
  try {
    for (const tenant of statements) {
      const tenantStart = process.hrtime.bigint();
      await client.query('BEGIN');
      for (const statement of tenant) await client.query(statement.text, statement.values);
      await client.query('COMMIT');
      perTenantMs.push(elapsedMs(tenantStart));
    }
  } finally {
    client.release();
  }
  const first = snapshots[0];
  return {
    tables: first ? ordered(first.keys()).map((table) => `${table.table}×${first.get(table)?.length ?? 0}`) : [],
    rowsPerTenant: first ? [...first.values()].reduce((sum, rows) => sum + rows.length, 0) : 0,
    perTenantMs,
    totalMs: elapsedMs(start),
  };
}
