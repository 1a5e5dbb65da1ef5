import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse';
import { Readable } from 'node:stream';
import { startBridge, type Bridge } from '../../worker/test/harness';
import { call, createKey } from './v1-helpers';
import { seedTenant } from './v1-tenant-fixture';

const SERVICE = 5301;
const DOMAIN = 'cdr-tenant.pbx.example.net';
const TOTAL = 20_000;
const SHARED_TIMESTAMP_GROUP = 400; // 400 calls share each start_stamp
const TRICKY_NAME = 'Smith, "Jo"\nÜnïcødé ☎ Ω';

let bridge: Bridge;
let admin: string;
let tenantKey: string;
let domainUuid: string;
const charged = new Map<string, string>();

async function fusionCount(where: string, params: unknown[] = []): Promise<number> {
  const { rows } = await bridge.fusion.query(`select count(*)::int as n from v_xml_cdr c where c.domain_uuid = $1 and ${where}`, [domainUuid, ...params]);
  return rows[0].n;
}

/** Reads a streamed body chunk by chunk, counting lines, without keeping it (like a client saving to disk). */
async function streamLines(path: string, accept: string, onLine?: (line: string) => void): Promise<{ status: number; headers: Headers; lines: number; bytes: number }> {
  const response = await fetch(`${bridge.url}${path}`, { headers: { authorization: `Bearer ${admin}`, accept } });
  let lines = 0;
  let bytes = 0;
  let partial = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    const text = partial + decoder.decode(chunk, { stream: true });
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines += parts.length;
    if (onLine) parts.forEach(onLine);
  }
  return { status: response.status, headers: response.headers, lines, bytes };
}

beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
  admin = bridge.config.adminToken;
  const seeded = await seedTenant(bridge.api!.deps.pool, bridge.fusion, SERVICE, DOMAIN);
  domainUuid = seeded.domainUuid;
  // Every 4th call unanswered; directions rotate; every 5th call on extension 100; a few tricky caller names.
  await bridge.fusion.query(
    `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, domain_name, direction, leg, caller_id_name, caller_id_number, destination_number,
                            start_stamp, answer_stamp, end_stamp, duration, billsec, hangup_cause, extension_uuid)
     select gen_random_uuid(), $1, $2, (array['inbound','outbound','local'])[1 + i % 3], 'a',
            case when i % 1000 = 7 then $3 else 'Caller ' || i end, '+1555' || lpad((i % 10000)::text, 4, '0'), '1' || (i % 50),
            timestamptz '2026-10-01 00:00:00+00' + (i / ${SHARED_TIMESTAMP_GROUP}) * interval '1 minute',
            case when i % 4 = 0 then null else timestamptz '2026-10-01 00:00:05+00' + (i / ${SHARED_TIMESTAMP_GROUP}) * interval '1 minute' end,
            timestamptz '2026-10-01 00:01:00+00' + (i / ${SHARED_TIMESTAMP_GROUP}) * interval '1 minute',
            60, case when i % 4 = 0 then 0 else 55 end, case when i % 4 = 0 then 'NO_ANSWER' else 'NORMAL_CLEARING' end,
            case when i % 5 = 0 then $4::uuid end
       from generate_series(1, ${TOTAL}) i`,
    [domainUuid, DOMAIN, TRICKY_NAME, seeded.extensionUuid],
  );
  // b-legs and another domain's calls must never show up by default.
  await bridge.fusion.query(
    `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, leg, start_stamp, billsec, hangup_cause)
     select gen_random_uuid(), case when i % 2 = 0 then $1 else gen_random_uuid() end, case when i % 2 = 0 then 'b' else 'a' end, now(), 10, 'NORMAL_CLEARING'
       from generate_series(1, 500) i`,
    [domainUuid],
  );
  const { rows } = await bridge.fusion.query(
    "select xml_cdr_uuid::text as uuid, start_stamp, direction, billsec from v_xml_cdr where domain_uuid = $1 and leg = 'a' and billsec > 0 order by xml_cdr_uuid limit 50",
    [domainUuid],
  );
  for (const [index, row] of rows.entries()) {
    const amount = `0.${String(index + 1).padStart(6, '0')}`;
    charged.set(row.uuid, amount);
    await bridge.api!.deps.pool.query(
      `insert into cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, status, period)
       values ($1, $2, $3, $4, $5, $6, $7, 'rated', '2026-10')`,
      [row.uuid, SERVICE, DOMAIN, row.start_stamp, row.direction, Number(row.billsec), amount],
    );
  }
  tenantKey = await createKey(bridge.url, admin, { name: 'cdr tenant', scope: 'tenant', serviceId: SERVICE, access: 'read' });
}, 120000);

afterAll(async () => {
  await bridge.close();
});

describe('CDR pages', () => {
  it('walks every a-leg CDR exactly once with the opaque cursor, newest first, while newer calls keep arriving', async () => {
    const seen: string[] = [];
    const order: [string, string][] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const reply = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, { token: admin });
      expect(reply.status).toBe(200);
      for (const cdr of reply.body.data) {
        seen.push(cdr.uuid);
        order.push([cdr.startStamp, cdr.uuid]);
      }
      cursor = reply.body.nextCursor;
      pages += 1;
      if (pages === 3) {
        // Concurrent inserts: newer calls, and calls at a timestamp already paged through.
        await bridge.fusion.query(
          `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, leg, caller_id_name, start_stamp, billsec, hangup_cause)
           select gen_random_uuid(), $1, 'a', 'concurrent', now() + i * interval '1 second', 5, 'NORMAL_CLEARING' from generate_series(1, 30) i`,
          [domainUuid],
        );
      }
    } while (cursor);
    expect(seen).toHaveLength(TOTAL);
    expect(new Set(seen).size).toBe(TOTAL);
    const sorted = [...order].sort((a, b) => (a[0] === b[0] ? b[1].localeCompare(a[1]) : b[0].localeCompare(a[0])));
    expect(order).toEqual(sorted);
    await bridge.fusion.query("delete from v_xml_cdr where domain_uuid = $1 and caller_id_name = 'concurrent'", [domainUuid]);
  });

  it('applies every filter exactly like the equivalent SQL', async () => {
    const cases: [string, string, unknown[]][] = [
      ['direction=inbound', "leg = 'a' and direction = 'inbound'", []],
      ['answeredOnly=true', "leg = 'a' and billsec > 0", []],
      ['hangupCause=NO_ANSWER', "leg = 'a' and hangup_cause = 'NO_ANSWER'", []],
      ['extension=100', "leg = 'a' and extension_uuid is not null", []],
      ['destination=17', "leg = 'a' and destination_number = '17'", []],
      ['from=2026-10-01T01:00:00Z&to=2026-10-01T02:00:00Z', "leg = 'a' and start_stamp >= '2026-10-01T01:00:00Z' and start_stamp < '2026-10-01T02:00:00Z'", []],
      ['leg=b', "leg = 'b'", []],
      ['direction=outbound&answeredOnly=true&extension=100', "leg = 'a' and direction = 'outbound' and billsec > 0 and extension_uuid is not null", []],
    ];
    for (const [query, where, params] of cases) {
      const expected = await fusionCount(where, params);
      const streamed = await streamLines(`/v1/tenants/${SERVICE}/cdrs?${query}`, 'application/x-ndjson');
      expect({ query, count: streamed.lines }).toEqual({ query, count: expected });
    }
  });

  it('shows the rated amount from the ledger as an exact decimal string, null when not rated', async () => {
    const amounts = new Map<string, string | null>();
    await streamLines(`/v1/tenants/${SERVICE}/cdrs?answeredOnly=true`, 'application/x-ndjson', (line) => {
      const cdr = JSON.parse(line) as { uuid: string; amount: string | null };
      amounts.set(cdr.uuid, cdr.amount);
    });
    for (const [uuid, amount] of charged) expect(amounts.get(uuid)).toBe(amount);
    expect([...amounts.values()].filter((amount) => amount !== null)).toHaveLength(charged.size);
  });

  it('lists a row stored without a leg as the a-leg it is billed as (filters and leg field alike)', async () => {
    // FusionPBX imports without a leg leave it NULL; the CDR sync rates such a row as an a-leg, so a billed call must be listed.
    const [unnamed, blank, bLeg] = [randomUUID(), randomUUID(), randomUUID()];
    await bridge.fusion.query(
      `insert into v_xml_cdr (xml_cdr_uuid, domain_uuid, leg, start_stamp, billsec, hangup_cause)
       values ($1, $4, null, '2027-03-01T10:00:00Z', 30, 'NORMAL_CLEARING'), ($2, $4, '', '2027-03-01T10:01:00Z', 30, 'NORMAL_CLEARING'),
              ($3, $4, 'b', '2027-03-01T10:02:00Z', 30, 'NORMAL_CLEARING')`,
      [unnamed, blank, bLeg, domainUuid],
    );
    try {
      const window = 'from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z';
      const listed = async (query: string) =>
        (await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?${window}${query}`, { token: admin })).body.data.map((cdr: { uuid: string; leg: string }) => [
          cdr.uuid,
          cdr.leg,
        ]);
      expect(await listed('')).toEqual([
        [blank, 'a'],
        [unnamed, 'a'],
      ]);
      expect(await listed('&leg=b')).toEqual([[bLeg, 'b']]);
      expect(await listed('&leg=all')).toEqual([
        [bLeg, 'b'],
        [blank, 'a'],
        [unnamed, 'a'],
      ]);
    } finally {
      await bridge.fusion.query('delete from v_xml_cdr where xml_cdr_uuid = any($1::uuid[])', [[unnamed, blank, bLeg]]);
    }
  });

  it('rejects bad filters with every failing path, and a cursor from other filters', async () => {
    const bad = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?direction=sideways&limit=0&from=yesterday&hangupCause=bad;drop`, { token: admin });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['query.direction', 'query.from', 'query.hangupCause', 'query.limit']);
    const first = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?limit=5&direction=inbound`, { token: admin });
    const reused = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?limit=5&direction=outbound&cursor=${first.body.nextCursor}`, { token: admin });
    expect(reused.status).toBe(400);
    expect(reused.body.error.details[0].path).toBe('query.cursor');
    const garbage = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?cursor=AAAA`, { token: admin });
    expect(garbage.status).toBe(400);
  });
});

describe('CDR export', () => {
  it('streams 20,000 CDRs as RFC 4180 CSV in bounded memory, quoting commas, quotes, newlines and unicode', async () => {
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 5);
    const response = await fetch(`${bridge.url}/v1/tenants/${SERVICE}/cdrs`, { headers: { authorization: `Bearer ${tenantKey}`, accept: 'text/csv' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    let rows = 0;
    let bytes = 0;
    const tricky: string[] = [];
    let header: string[] = [];
    const parser = Readable.from(response.body as unknown as AsyncIterable<Uint8Array>).pipe(parse({ relax_column_count: false }));
    for await (const record of parser as AsyncIterable<string[]>) {
      if (header.length === 0) {
        header = record;
        continue;
      }
      rows += 1;
      bytes += record.join(',').length;
      const name = record[header.indexOf('callerIdName')];
      if (name === TRICKY_NAME) tricky.push(name);
    }
    clearInterval(sampler);
    expect(header.slice(0, 3)).toEqual(['uuid', 'startStamp', 'answerStamp']);
    expect(header).toContain('amount');
    expect(rows).toBe(TOTAL);
    expect(tricky).toHaveLength(await fusionCount("leg = 'a' and caller_id_name = $2", [TRICKY_NAME]));
    const growthMb = (peak - baseline) / 1024 / 1024;
    // eslint-disable-next-line no-console
    console.log(`CSV export: ${rows} rows, ${(bytes / 1024 / 1024).toFixed(1)} MB of fields, peak heap growth ${growthMb.toFixed(1)} MB`);
    expect(growthMb).toBeLessThan(64);
  });

  it('streams NDJSON, one JSON object per line', async () => {
    const uuids = new Set<string>();
    const result = await streamLines(`/v1/tenants/${SERVICE}/cdrs`, 'application/x-ndjson', (line) => uuids.add((JSON.parse(line) as { uuid: string }).uuid));
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(uuids.size).toBe(TOTAL);
  });

  it('answers a tenant with no calls with only the CSV header', async () => {
    // After every seeded call (stamped now()): a year ahead, not a fixed year the calls would reach.
    const nextYear = new Date(Date.now() + 366 * 86_400_000).toISOString();
    const empty = await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs?format=csv&from=${nextYear}`, { token: admin });
    expect(empty.status).toBe(200);
    expect(empty.text.split('\r\n').filter(Boolean)).toHaveLength(1);
  });

  it('keeps another tenant’s key out of these CDRs', async () => {
    const otherService = 5302;
    await seedTenant(bridge.api!.deps.pool, bridge.fusion, otherService, `other-${randomUUID().slice(0, 8)}.pbx.example.net`);
    const otherKey = await createKey(bridge.url, admin, { name: 'other', scope: 'tenant', serviceId: otherService, access: 'read' });
    expect((await call(bridge.url, 'GET', `/v1/tenants/${SERVICE}/cdrs`, { token: otherKey })).status).toBe(404);
    expect((await call(bridge.url, 'GET', `/v1/tenants/${DOMAIN}/cdrs?format=csv`, { token: otherKey })).status).toBe(404);
    const own = await call(bridge.url, 'GET', `/v1/tenants/${otherService}/cdrs`, { token: otherKey });
    expect(own.body.data).toEqual([]);
  });
});
