import { spawn } from 'node:child_process';
import type { Pool, PoolClient } from 'pg';
import { FusionServersRepository } from '@ictvoip/store';
import { logRecords, startBridge, startSecondFusionServer, waitFor, type Bridge, type SecondFusionServer } from '../../worker/test/harness';
import { createKey } from './v1-helpers';
import { seedTenant } from './v1-tenant-fixture';

// A database failing while a streamed export is on the wire (real HTTP over loopback, a real backend
// terminated with pg_terminate_backend while it serves the export). After the status line and the first
// rows are out, the answer must never end as a well-formed transfer: a CSV cut between two rows would
// otherwise parse as a complete, smaller file. Before anything is sent, the failure is a clean status.

const SERVICE = 6101;
const DOMAIN = 'stream-faults.pbx.example.net';
// A tenant on a second FusionPBX server ("pbx2"), listed after SERVICE in an export over every tenant.
const SECOND_SERVICE = 6102;
const SECOND_DOMAIN = 'stream-faults-2.pbx.example.net';
// One page (1000) and a bit: the fault is put between the first page and the second.
const CALLS = 1500;

let bridge: Bridge;
let second: SecondFusionServer;
let adminKey: string;

const insertCalls = (pool: Pool, domainUuid: string, domain: string, calls: number) =>
  pool.query(
    `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_number, destination_number, start_stamp, end_stamp, duration, billsec, hangup_cause)
     select gen_random_uuid(), $1, $2, 'outbound', 'a', '100', '1555' || i, timestamptz '2024-01-10 00:00:00+00' + i * interval '1 minute',
            timestamptz '2024-01-10 00:01:00+00' + i * interval '1 minute', 60, 55, 'NORMAL_CLEARING'
       from generate_series(1, $3::int) i`,
    [domainUuid, domain, calls],
  );

beforeAll(async () => {
  bridge = await startBridge({ COMPAT_ICTVOIP: '1', TRUST_PROXY: 'loopback' });
  await bridge.startApi();
  const { domainUuid } = await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE, DOMAIN);
  await insertCalls(bridge.fusion, domainUuid, DOMAIN, CALLS);
  second = await startSecondFusionServer('Stream-Faults-Esl-5521');
  await new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing).add({
    name: 'pbx2',
    databaseUrl: second.db.url,
    eslHost: second.esl.host,
    eslPort: second.esl.port,
    eslPassword: 'Stream-Faults-Esl-5521',
    whmcsServerId: 2,
  });
  const onSecond = await seedTenant(bridge.api!.deps.pool, second.pool, SECOND_SERVICE, SECOND_DOMAIN);
  await bridge.api!.deps.pool.query("UPDATE services SET fusionpbx_server = 'pbx2' WHERE service_id = $1", [SECOND_SERVICE]);
  await insertCalls(second.pool, onSecond.domainUuid, SECOND_DOMAIN, 10);
  adminKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'stream-faults', scope: 'admin', access: 'read' });
}, 60_000);

afterAll(async () => {
  await bridge?.close();
  await second?.close();
});

/** Holds an ACCESS EXCLUSIVE lock on `table` (every read of it waits) until release() is called. */
async function lockTable(pool: Pool, table: string): Promise<{ release(): Promise<void> }> {
  const client: PoolClient = await pool.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await client.query('ROLLBACK');
      client.release();
    },
  };
}

/** The pid of the bridge's backend waiting on a lock of `table` (a query of it in flight). */
const waitingOn = (pool: Pool, table: string) =>
  waitFor(
    async () =>
      (
        await pool.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1 AND pid <> pg_backend_pid()",
          [`%${table}%`],
        )
      ).rows[0]?.pid,
    10_000,
    `a query of ${table} waiting on its lock`,
  );

const terminate = async (pool: Pool, pid: number) => expect((await pool.query('SELECT pg_terminate_backend($1) AS done', [pid])).rows[0].done).toBe(true);

interface CurlRun {
  firstBytes: Promise<void>;
  done: Promise<{ code: number | null; body: string; stderr: string }>;
}

/** curl, as an ictVoIP script or an operator runs it; `firstBytes` settles when the first bytes of the body arrive. */
function curl(args: string[]): CurlRun {
  const child = spawn('curl', ['-sS', '-N', ...args]);
  let body = '';
  let stderr = '';
  let arrived: () => void = () => undefined;
  const firstBytes = new Promise<void>((resolve) => (arrived = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    body += chunk.toString('utf8');
    arrived();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const done = new Promise<{ code: number | null; body: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, body, stderr })));
  return { firstBytes, done };
}

/**
 * Runs `args` with the FusionPBX database failing between the first page of CDRs and the second: the
 * first page's charge lookup (bridge database) is held until the CDR table is locked, so the second
 * page's query is seen waiting (in flight, after the first rows reached curl) and its backend is terminated.
 */
async function exportCutBetweenPages(args: string[]) {
  const charges = await lockTable(bridge.api!.deps.pool, 'cdr_charges');
  const run = curl(args);
  try {
    await waitingOn(bridge.api!.deps.pool, 'cdr_charges');
    const cdrs = await lockTable(bridge.fusion, 'v_xml_cdr');
    try {
      await charges.release();
      await run.firstBytes;
      await terminate(bridge.fusion, await waitingOn(bridge.fusion, 'v_xml_cdr'));
    } finally {
      await cdrs.release();
    }
  } finally {
    await charges.release().catch(() => undefined);
  }
  return run.done;
}

const failureLogs = (stream: string) =>
  logRecords(bridge, (record) => record.stream === stream && String(record.msg).includes('streamed answer failed after its first bytes were sent'));

const exportUrl = (format: string) => `${bridge.url}/app/xml_cdr/export_cdr.php?date_start=2024-01-01&date_end=2024-01-31&format=${format}&tenant_domain=${DOMAIN}`;

describe('a FusionPBX database failing in the middle of a streamed CDR export', () => {
  it('export_cdr.php (CSV): the connection is dropped, so curl reports an incomplete transfer; the failure is logged without secrets', async () => {
    const before = failureLogs('export_cdr.php').length;
    const reply = await exportCutBetweenPages(['-H', `Authorization: Bearer ${adminKey}`, exportUrl('CSV')]);
    // 18: "transfer closed with outstanding read data remaining" (the chunked body was never terminated).
    expect({ code: reply.code, stderr: reply.stderr }).toMatchObject({ code: 18, stderr: expect.stringMatching(/outstanding read data|transfer closed/) });
    const rows = reply.body.split('\n').filter((line) => line !== '');
    // The header and exactly the first page made it: the fault hit between the pages, not before or after.
    expect(rows[0]).toMatch(/^xml_cdr_uuid,domain_name,/);
    expect(rows.length - 1).toBe(1000);
    const logged = failureLogs('export_cdr.php');
    expect(logged.length).toBe(before + 1);
    expect(logged[logged.length - 1]).toMatchObject({ level: 50, path: '/app/xml_cdr/export_cdr.php', bytesSent: expect.any(Number), failure: { code: '57P01' } });
    const line = JSON.stringify(logged[logged.length - 1]);
    expect(line).not.toContain(adminKey);
    expect(line).not.toContain(bridge.config.fusionpbx.databaseUrl);
  }, 30_000);

  it('export_cdr.php (JSON): the envelope is never closed and curl reports an incomplete transfer', async () => {
    const reply = await exportCutBetweenPages(['-H', `Authorization: Bearer ${adminKey}`, exportUrl('JSON')]);
    expect(reply.code).toBe(18);
    expect(reply.body).toMatch(/^\{"status":"success"/);
    expect(reply.body).not.toContain('total_records');
  }, 30_000);

  it('GET /v1/tenants/{tenant}/cdrs as CSV: the connection is dropped the same way, and logged', async () => {
    const before = failureLogs('cdrs csv').length;
    const reply = await exportCutBetweenPages([
      '-H',
      `Authorization: Bearer ${adminKey}`,
      `${bridge.url}/v1/tenants/${SERVICE}/cdrs?format=csv&from=2024-01-01T00:00:00Z&to=2024-02-01T00:00:00Z`,
    ]);
    expect(reply.code).toBe(18);
    expect(reply.body.split('\n').filter((line) => line !== '').length - 1).toBe(1000);
    expect(failureLogs('cdrs csv').length).toBe(before + 1);
  }, 30_000);

  it('export_cdr.php over every server: the second server’s database failing after the first server’s rows were sent drops the connection, logged with the server’s name', async () => {
    const before = failureLogs('export_cdr.php').length;
    const cdrs = await lockTable(second.pool, 'v_xml_cdr');
    const run = curl(['-H', `Authorization: Bearer ${adminKey}`, `${bridge.url}/app/xml_cdr/export_cdr.php?date_start=2024-01-01&date_end=2024-01-31&format=CSV`]);
    try {
      await run.firstBytes;
      await terminate(second.pool, await waitingOn(second.pool, 'v_xml_cdr'));
    } finally {
      await cdrs.release();
    }
    const reply = await run.done;
    expect(reply.code).toBe(18);
    const rows = reply.body.split('\n').filter((line) => line !== '');
    // Every row of the first server, none of the second's: without the cut, a file that looks whole.
    expect(rows.filter((line) => line.includes(DOMAIN)).length).toBe(CALLS);
    expect(rows.filter((line) => line.includes(SECOND_DOMAIN))).toEqual([]);
    const logged = failureLogs('export_cdr.php');
    expect(logged.length).toBe(before + 1);
    expect(logged[logged.length - 1]).toMatchObject({ failure: { code: '57P01', server: 'pbx2' } });
    expect(JSON.stringify(logged[logged.length - 1])).not.toContain(second.db.url);
  }, 30_000);

  it('a whole export still ends as a complete transfer (curl exit 0) with every row', async () => {
    const reply = await curl(['-H', `Authorization: Bearer ${adminKey}`, exportUrl('CSV')]).done;
    expect(reply.code).toBe(0);
    expect(reply.body.split('\n').filter((line) => line !== '').length - 1).toBe(CALLS);
  }, 30_000);
});

describe('a database failing before anything of a streamed export is sent', () => {
  it('export_cdr.php answers a clean 503 in the envelope, with no CSV attachment header', async () => {
    const cdrs = await lockTable(bridge.fusion, 'v_xml_cdr');
    const reply = fetch(exportUrl('CSV'), { headers: { authorization: `Bearer ${adminKey}` } });
    try {
      await terminate(bridge.fusion, await waitingOn(bridge.fusion, 'v_xml_cdr'));
    } finally {
      await cdrs.release();
    }
    const response = await reply;
    expect(response.status).toBe(503);
    expect(response.headers.get('content-disposition')).toBeNull();
    expect(await response.json()).toMatchObject({ status: 'error', message: expect.stringMatching(/^Server Error: /) });
  }, 30_000);

  it('the registration history CSV answers a clean 503 (its header row is not sent before the first page is read)', async () => {
    const history = await lockTable(bridge.api!.deps.pool, 'registration_history');
    const reply = fetch(`${bridge.url}/v1/tenants/${SERVICE}/registrations/history?format=csv`, { headers: { authorization: `Bearer ${adminKey}` } });
    try {
      await terminate(bridge.api!.deps.pool, await waitingOn(bridge.api!.deps.pool, 'registration_history'));
    } finally {
      await history.release();
    }
    const response = await reply;
    expect(response.status).toBe(503);
    expect(response.headers.get('content-disposition')).toBeNull();
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('DEPENDENCY_UNAVAILABLE');
  }, 30_000);
});
