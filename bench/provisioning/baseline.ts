import { connect } from 'node:net';
import { hash } from 'bcryptjs';
import type { Pool } from 'pg';
import { elapsedMs } from '../lib/stats';

/**
 * The provisioning baseline does the same durable work as the bridge, by hand and with nothing in
 * between: per tenant, one bcrypt cost-10 hash (the portal password, as PHP's password_hash), the
 * very rows the project committed (every table with a domain_uuid column, v_domains included)
 * written with ONE multi-row INSERT per table in one transaction, then the same event-socket
 * commands the project sent for that tenant, pipelined on one authenticated connection. The burst
 * runs `lanes` tenants at once (the worker's concurrency); one-at-a-time runs them in turn.
 */

interface TableColumns {
  table: string;
  columns: string[];
}

export interface BaselineTenant {
  domainName: string;
  /** Event-socket commands the project sent for this tenant (from the stand-in's record). */
  eslCommands: string[];
}

export interface EslTarget {
  host: string;
  port: number;
  password: string;
}

export interface BaselineResult {
  tables: string[];
  rowsPerTenant: number;
  eslCommandsPerTenant: number;
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

/** Sends `commands` pipelined on a fresh authenticated event-socket connection; resolves after the last reply. */
function sendEslCommands(target: EslTarget, commands: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    let buffered = '';
    let authed = false;
    let replies = 0;
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (!authed) {
        if (buffered.includes('auth/request')) {
          buffered = '';
          authed = true;
          socket.write(`auth ${target.password}\n\n${commands.map((command) => `api ${command}\n\n`).join('')}`);
        }
        return;
      }
      replies = buffered.split('Content-Type: api/response').length - 1;
      if (replies >= commands.length) {
        socket.end('exit\n\n');
        resolve();
      }
    });
  });
}

async function provisionOne(target: Pool, esl: EslTarget, statements: { text: string; values: unknown[] }[], commands: readonly string[]): Promise<number> {
  const started = process.hrtime.bigint();
  await hash('the tenant admin password', 10);
  const client = await target.connect();
  try {
    await client.query('BEGIN');
    for (const statement of statements) await client.query(statement.text, statement.values);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  if (commands.length > 0) await sendEslCommands(esl, commands);
  return elapsedMs(started);
}

/** Provisions `tenants` into `target` by hand, `lanes` at a time; per-tenant and total wall time. */
export async function provisionByHand(source: Pool, target: Pool, esl: EslTarget, tenants: readonly BaselineTenant[], lanes: number): Promise<BaselineResult> {
  const tables = await tablesWithDomainUuid(source);
  const work: { snapshot: Map<TableColumns, Row[]>; statements: { text: string; values: unknown[] }[]; commands: string[] }[] = [];
  for (const tenant of tenants) {
    const snapshot = await tenantRows(source, tables, tenant.domainName);
    work.push({ snapshot, statements: ordered(snapshot.keys()).map((table) => multiRowInsert(table, snapshot.get(table) ?? [])), commands: tenant.eslCommands });
  }
  const perTenantMs: number[] = [];
  let next = 0;
  const start = process.hrtime.bigint();
  const lane = async () => {
    while (next < work.length) {
      const item = work[next];
      next += 1;
      perTenantMs.push(await provisionOne(target, esl, item.statements, item.commands));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
  const totalMs = elapsedMs(start);
  const first = work[0]?.snapshot;
  return {
    tables: first ? ordered(first.keys()).map((table) => `${table.table}×${first.get(table)?.length ?? 0}`) : [],
    rowsPerTenant: first ? [...first.values()].reduce((sum, rows) => sum + rows.length, 0) : 0,
    eslCommandsPerTenant: tenants[0]?.eslCommands.length ?? 0,
    perTenantMs,
    totalMs,
  };
}
