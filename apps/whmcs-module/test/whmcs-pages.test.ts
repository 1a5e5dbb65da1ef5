/**
 * The client area and the addon's data, produced by the real PHP modules as WHMCS calls them (the
 * php -S stand-in builds WHMCS-shaped $params / $vars) against a running bridge: periods, search,
 * paging, the CSV stream, escaping of hostile values, the operator's actions and their audit rows,
 * and what the pages say when the bridge is down.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { batchIdFor, createBatch, insertAdjustment, latestClosedPeriod, ServicesRepository } from '@ictvoip/store';
import { usageOf } from '../../api/src/routes/service-status';
import { signBody } from '@ictvoip/whmcs';
import { recordFailedCreate } from '@ictvoip/testkit';
import { closedPort } from '../../../packages/whmcs/test/module-harness';
import {
  ADMIN_USERNAME,
  CSRF_TOKEN,
  CYCLE_DOMAIN,
  CYCLE_SERVICE_ID,
  DID,
  DOMAIN,
  failedJob,
  failedMaintenanceJob,
  HOSTILE_NAME,
  INVOICE_ID,
  isQuarterStart,
  OTHER_PERIOD,
  PAGE_SIZE,
  PERIOD,
  PERIOD_END,
  PERIOD_LAST_DAY,
  PERIOD_START,
  periodDay,
  QUARTER,
  readModuleLog,
  SERVICE_ID,
  startWhmcsPages,
  type WhmcsPages,
} from './whmcs-pages-harness';
import { waitFor } from '../../worker/test/harness';

let pages: WhmcsPages;
const ADMIN_ACTOR = `whmcs-admin:${ADMIN_USERNAME} (admin #1)`;
// The give-up tests lower the install's ICTVOIP_TOTAL_TIMEOUT from the harness's 10 s: what they show is that the
// limit is the install's, not the default 30 s / 300 s, and waiting 10 s twice only made the suite slower.
const FAST_GIVE_UP = { ICTVOIP_TOTAL_TIMEOUT: 3 };

/* eslint-disable @typescript-eslint/no-explicit-any -- the pages' JSON is checked field by field below */
async function clientData(query: Record<string, string> = {}, base = pages.phpUrl, serviceId = SERVICE_ID): Promise<any> {
  const params = new URLSearchParams({ action: 'productdetails', id: String(serviceId), harness: 'json', ...query });
  const response = await fetch(`${base}/clientarea.php?${params}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { templateVariables: unknown }).templateVariables;
}

async function addonData(query: Record<string, string> = {}, form?: Record<string, string>, base = pages.phpUrl): Promise<any> {
  const params = new URLSearchParams({ module: 'ictvoip', harness: 'json', ...query });
  // The addon's forms carry WHMCS's CSRF token (generate_token); the stand-in's check_token refuses a POST without it.
  const response = await fetch(`${base}/admin/addonmodules.php?${params}`, form ? { method: 'POST', body: new URLSearchParams({ token: CSRF_TOKEN, ...form }) } : {});
  expect(response.status).toBe(200);
  return ((await response.json()) as { vars: unknown }).vars;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

async function html(pathAndQuery: string, base = pages.phpUrl): Promise<string> {
  const response = await fetch(`${base}${pathAndQuery}`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The addon page's HTML after a form POST (the harness renders the template). */
async function postedHtml(form: Record<string, string>, base = pages.phpUrl): Promise<string> {
  const params = new URLSearchParams({ module: 'ictvoip', page: 'ratedecks' });
  const response = await fetch(`${base}/admin/addonmodules.php?${params}`, { method: 'POST', body: new URLSearchParams({ token: CSRF_TOKEN, ...form }) });
  expect(response.status).toBe(200);
  return response.text();
}

function expectNoPhpError(text: string): void {
  const found = /.{0,80}\b(Fatal error|Warning|Notice|Deprecated|Uncaught)\b.{0,200}/.exec(text);
  expect(found?.[0] ?? null).toBeNull();
}

async function auditRows(action: string): Promise<{ actor: string; detail: Record<string, unknown> }[]> {
  const { rows } = await pages.bridge.api!.deps.pool.query('SELECT actor, detail FROM audit_log WHERE action = $1 ORDER BY id', [action]);
  return rows;
}

async function signedPost(path: string, body: unknown, secret = pages.webhookSecret) {
  const raw = JSON.stringify(body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  return fetch(`${pages.bridge.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ictvoip-timestamp': timestamp, 'x-ictvoip-signature': signBody(secret, timestamp, raw) },
    body: raw,
  });
}

beforeAll(async () => {
  pages = await startWhmcsPages();
}, 60000);

afterAll(async () => {
  await pages?.stop();
});

describe('client area (server module ClientArea)', () => {
  test("a period's calls: amounts, or why there is none, newest first, paged", async () => {
    const first = await clientData({ period: PERIOD });
    expect(first.ictvoipCallsUnavailable).toBe(false);
    expect(first.ictvoipCalls.period).toBe(PERIOD);
    expect(first.ictvoipLinks.periods.map((option: { value: string }) => option.value)).toContain(PERIOD);
    expect(first.ictvoipLinks.periods.find((option: { selected: boolean }) => option.selected).value).toBe(PERIOD);
    expect(first.ictvoipCalls.rows).toHaveLength(PAGE_SIZE);
    expect(first.ictvoipCalls.rows[0]).toMatchObject({ date: `${periodDay(7)} 13:00:00`, fromName: HOSTILE_NAME, to: '+4940222222', duration: '0:42', rated: true, amount: '0.042 EUR' });
    expect(first.ictvoipCalls.rows[1]).toMatchObject({ date: `${periodDay(6)} 12:00:00`, rated: false, statusText: 'not rated yet' });
    expect(first.ictvoipCalls).toMatchObject({ ratedCalls: 2, unratedCalls: 1, amount: '0.167', currency: 'EUR', periodStart: PERIOD_START, periodEnd: PERIOD_END, periodLastDay: PERIOD_LAST_DAY });
    expect(first.ictvoipLinks.csv).toBe(`clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`);

    const rows = [...first.ictvoipCalls.rows];
    let next: string = first.ictvoipLinks.next;
    while (next) {
      const cursor = new URL(next, 'http://whmcs.test/').searchParams.get('cursor')!;
      const page = await clientData({ period: PERIOD, cursor });
      rows.push(...page.ictvoipCalls.rows);
      next = page.ictvoipLinks.next;
    }
    expect(rows.map((row) => row.date)).toEqual([`${periodDay(7)} 13:00:00`, `${periodDay(6)} 12:00:00`, `${periodDay(5)} 11:00:00`, `${periodDay(4)} 10:00:00`, `${periodDay(3)} 09:00:00`]);
    expect(rows[2]).toMatchObject({ rated: false, statusText: 'not billable', reason: 'inbound calls are not billed', duration: '0:00' });
    expect(rows[3]).toMatchObject({ rated: false, statusText: 'unrated', reason: 'no rate for +88212345678 in deck retail' });
    expect(rows[4]).toMatchObject({ rated: true, amount: '0.125 EUR', duration: '2:05' });

    const september = await clientData({ period: OTHER_PERIOD });
    expect(september.ictvoipCalls.rows).toEqual([expect.objectContaining({ date: `${OTHER_PERIOD}-20 08:00:00`, amount: '0.061 EUR' })]);
  });

  test("an extension with a numeric alias shows the alias's mailbox (FusionPBX keys it by the alias)", async () => {
    const [{ domain_uuid: domainUuid }] = (await pages.bridge.fusion.query('select domain_uuid::text from v_domains where domain_name = $1', [DOMAIN])).rows;
    const mailbox = randomUUID();
    await pages.bridge.fusion.query("update v_extensions set number_alias = '5101' where domain_uuid = $1 and extension = '101'", [domainUuid]);
    await pages.bridge.fusion.query("insert into v_voicemails (voicemail_uuid, domain_uuid, voicemail_id, voicemail_password, voicemail_enabled) values ($1, $2, '5101', '1234', 'true')", [mailbox, domainUuid]);
    await pages.bridge.fusion.query(
      `insert into v_voicemail_messages (voicemail_message_uuid, domain_uuid, voicemail_uuid, created_epoch, caller_id_number, message_length, message_status)
       values ($1, $2, $3, 1790000000, '+4930999999', 12, null)`,
      [randomUUID(), domainUuid, mailbox],
    );
    try {
      const phones = (await clientData()).ictvoipPhones as { extension: string; voicemail: unknown }[];
      expect(phones.find((phone) => phone.extension === '101')?.voicemail).toEqual({ new: 1, saved: 0 });
    } finally {
      await pages.bridge.fusion.query('delete from v_voicemail_messages where voicemail_uuid = $1', [mailbox]);
      await pages.bridge.fusion.query('delete from v_voicemails where voicemail_uuid = $1', [mailbox]);
      await pages.bridge.fusion.query("update v_extensions set number_alias = null where domain_uuid = $1 and extension = '101'", [domainUuid]);
    }
  });

  test('search by number matches the caller or the dialled number; a bad search is refused, not sent', async () => {
    const found = await clientData({ period: PERIOD, number: '4930' });
    expect(found.ictvoipSearch).toBe('4930');
    expect(found.ictvoipCalls.rows.map((row: { from: string; to: string }) => `${row.from}>${row.to}`)).toEqual(['+4930999999>100', '100>+4930123456']);
    expect(found.ictvoipLinks.csv).toContain('number=4930');
    const none = await clientData({ period: PERIOD, number: '000000' });
    expect(none.ictvoipCalls.rows).toEqual([]);
    const hostile = await clientData({ period: PERIOD, number: '1\' OR 1=1 --<b>' });
    expect(hostile.ictvoipSearchInvalid).toBe(true);
    expect(hostile.ictvoipSearch).toBe('');
    expect(hostile.ictvoipCalls.rows).toHaveLength(PAGE_SIZE);
    // A period that is not YYYY-MM is dropped: the current period is shown.
    const badPeriod = await clientData({ period: '2026-13' });
    expect(badPeriod.ictvoipCalls.period).toMatch(/^\d{4}-\d{2}$/);
    expect(badPeriod.ictvoipCalls.period).not.toBe('2026-13');
  });

  test('phones: registration state, device and since when; portal link', async () => {
    const data = await clientData();
    expect(data.ictvoipPhones).toEqual([
      { extension: '100', name: '', state: 'registered', device: 'Grandstream GXP2170 <script>x</script>', since: '2026-10-01 08:00:00', voicemail: { new: 2, saved: 1 } },
      { extension: '101', name: HOSTILE_NAME, state: 'lost', device: 'Yealink SIP-T46U', since: '2026-10-02 07:05:00', voicemail: null },
    ]);
    expect(data.ictvoipPortalUrl).toBe(`https://${DOMAIN}/`);
    // No call rated this period yet: the amount still names the currency the service's calls are charged in.
    expect(data.ictvoip.usage).toMatchObject({ includedMinutes: 100, minutes: 0, minutesLeft: 100, percentUsed: 0, amount: '0.00', currency: 'EUR' });
  });

  test("the usage and a period's total show the adjustments and credits its bill includes, and the bill's total", async () => {
    const pool = pages.bridge.api!.deps.pool;
    const adjustmentId = `manual-${randomUUID()}`;
    const batchId = batchIdFor(SERVICE_ID, PERIOD);
    await insertAdjustment(pool, { adjustmentId, serviceId: SERVICE_ID, kind: 'manual', amount: '-0.050000', currency: 'EUR', sourcePeriod: null, description: 'goodwill credit' });
    try {
      // On no bill yet: the next close's takes it. That is the closing period's (ended at least BILLING_CLOSE_DELAY_SECONDS
      // ago; this tenant's calls of PERIOD and earlier are not billed yet, so its batch is still to be made), not the running one's.
      const closing = latestClosedPeriod(new Date(), pages.bridge.config.billing.timeZone, pages.bridge.config.billing.closeDelaySeconds);
      expect((await clientData({ period: closing })).ictvoipCalls).toMatchObject({ adjustments: '-0.05' });
      expect((await clientData()).ictvoip.usage).toMatchObject({ amount: '0.00', adjustments: '', total: '' });
      // PERIOD's bill is made: its calls, the credit, and a call of OTHER_PERIOD not billed yet (0.061). PERIOD's total is that bill; the running period no longer has the credit.
      const client = await pool.connect();
      try {
        expect((await createBatch(client, { serviceId: SERVICE_ID, clientId: 77, period: PERIOD }))?.batch).toMatchObject({ total: '0.178000', adjustmentTotal: '-0.050000' });
      } finally {
        client.release();
      }
      const billed = await clientData({ period: PERIOD });
      expect(billed.ictvoipCalls).toMatchObject({ amount: '0.167', adjustments: '-0.05', total: '0.178' });
      expect(billed.ictvoip.usage).toMatchObject({ adjustments: '', total: '' });
      const page = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${PERIOD}`);
      expect(page).toMatch(/: 2, 0\.167 EUR &middot; Adjustments and credits: -0\.05 EUR &middot; Bill total: 0\.178 EUR/);
    } finally {
      await pool.query('UPDATE cdr_charges SET batch_id = NULL WHERE batch_id = $1', [batchId]);
      await pool.query('DELETE FROM billing_adjustments WHERE adjustment_id = $1', [adjustmentId]);
      await pool.query('DELETE FROM billing_batches WHERE batch_id = $1', [batchId]);
    }
  });

  test('pending adjustments in two currencies are shown one line per currency, never summed under the calls\' currency', async () => {
    const pool = pages.bridge.api!.deps.pool;
    const ids = [`manual-${randomUUID()}`, `manual-${randomUUID()}`];
    const callUuid = randomUUID();
    await insertAdjustment(pool, { adjustmentId: ids[0]!, serviceId: SERVICE_ID, kind: 'manual', amount: '-5.000000', currency: 'EUR', sourcePeriod: null, description: 'goodwill credit' });
    await insertAdjustment(pool, { adjustmentId: ids[1]!, serviceId: SERVICE_ID, kind: 'rerate', amount: '3.000000', currency: 'USD', sourcePeriod: null, description: 'old deck' });
    try {
      // The closing period's bill takes what is pending (see above). Before: one "-2.00 EUR" (the sum across currencies).
      const closing = latestClosedPeriod(new Date(), pages.bridge.config.billing.timeZone, pages.bridge.config.billing.closeDelaySeconds);
      const data = await clientData({ period: closing });
      // That period has no call: no currency is the bill's, so the single figure has none of them (it never sums two).
      expect(data.ictvoipCalls).toMatchObject({
        currency: '',
        adjustments: '',
        adjustmentLines: [
          { amount: '-5.00', currency: 'EUR' },
          { amount: '3.00', currency: 'USD' },
        ],
      });
      const page = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${closing}`);
      expectNoPhpError(page);
      expect(page).toMatch(/Adjustments and credits: -5\.00 EUR, 3\.00 USD/);
      expect(page).not.toContain('-2.00');
      // The bridge's answer the module reads: each currency's, exact; the single figure (kept for scripts) is that of the
      // calls' currency only, none here.
      const plan = (await new ServicesRepository(pool).get(SERVICE_ID))?.plan;
      const usage = await usageOf(pages.bridge.api!.deps, SERVICE_ID, plan, closing);
      expect(usage).toMatchObject({ currency: '', adjustments: '0.000000', total: usage.amount });
      expect(usage.adjustmentsByCurrency).toEqual([
        { currency: 'EUR', amount: '-5.000000' },
        { currency: 'USD', amount: '3.000000' },
      ]);
      // A call of the period in EUR: the single figure and the total take the EUR credit only, not the USD.
      await pool.query(
        `INSERT INTO cdr_charges (xml_cdr_uuid, service_id, domain_name, start_stamp, direction, billsec, amount, currency, status, reason, period)
         VALUES ($1, $2, $3, $4::timestamptz, 'outbound', 60, 0.250000, 'EUR', 'rated', NULL, $5)`,
        [callUuid, SERVICE_ID, DOMAIN, `${closing}-02T10:00:00Z`, closing],
      );
      expect(await usageOf(pages.bridge.api!.deps, SERVICE_ID, plan, closing)).toMatchObject({
        currency: 'EUR',
        amount: '0.250000',
        adjustments: '-5.000000',
        total: '-4.750000',
        adjustmentsByCurrency: [
          { currency: 'EUR', amount: '-5.000000' },
          { currency: 'USD', amount: '3.000000' },
        ],
      });
      const withCall = await clientData({ period: closing });
      expect(withCall.ictvoipCalls).toMatchObject({ currency: 'EUR', adjustments: '-5.00', adjustmentLines: [{ amount: '-5.00', currency: 'EUR' }, { amount: '3.00', currency: 'USD' }] });
    } finally {
      await pool.query('DELETE FROM cdr_charges WHERE xml_cdr_uuid = $1', [callUuid]);
      await pool.query('DELETE FROM billing_adjustments WHERE adjustment_id = ANY($1)', [ids]);
    }
  });

  test('numbers and where they ring, prepaid credit state, from one bridge call per page', async () => {
    const before = readModuleLog(pages.moduleLog).trim().split('\n').filter(Boolean).length;
    const data = await clientData({ period: PERIOD });
    const lines = readModuleLog(pages.moduleLog).trim().split('\n').filter(Boolean).slice(before);
    // One bridge call for the whole page (no `status` event, no separate calls/phones reads).
    expect(lines.map((line) => JSON.parse(line).action)).toEqual(['ClientArea']);
    expect(lines[0]).toContain('/whmcs/client/overview');
    expect(data.ictvoipNumbers).toEqual([{ number: DID, destination: 'extension 100', enabled: true, description: HOSTILE_NAME }]);
    expect(data.ictvoipCredit).toMatchObject({ state: 'low', mode: 'outbound', available: '3.50', threshold: '5.00', creditLimit: '', currency: 'EUR', restricted: false, lastMail: { kind: 'low' } });
    const page = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${PERIOD}`);
    expectNoPhpError(page);
    expect(page).toContain('id="ictvoip-numbers"');
    expect(page).toContain('id="ictvoip-credit"');
    expect(page).toContain('Credit is running low');
    expect(page).toContain('Reminder when available credit falls below: 5.00 EUR');
    expect(page).not.toContain('Credit limit');
    // Postpaid under a credit limit: the limit is shown beside the reminder threshold.
    const pool = pages.bridge.api!.deps.pool;
    await pool.query('UPDATE credit_states SET credit_limit = 50 WHERE service_id = $1', [SERVICE_ID]);
    try {
      const postpaid = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${PERIOD}`);
      expect(postpaid).toContain('Reminder when available credit falls below: 5.00 EUR &middot; Credit limit: 50.00 EUR');
    } finally {
      await pool.query('UPDATE credit_states SET credit_limit = NULL WHERE service_id = $1', [SERVICE_ID]);
    }
    expect(page).toContain('2 new</strong>, 1 saved');
    expect(page).not.toContain('<script>');
    expect(page).toContain(`Rated calls this period (${PERIOD_START} &ndash; ${PERIOD_LAST_DAY}): 2, 0.167 EUR`);
  });

  test("periods follow the service's own billing cycle; a day inside a period names that period", async () => {
    const cycle = (await (await signedPost('/whmcs/client/overview', { serviceId: CYCLE_SERVICE_ID, period: `${OTHER_PERIOD}-01` })).json()) as {
      period: string;
      periodStart: string;
      periodEnd: string;
      periods: string[];
    };
    expect(cycle).toMatchObject({ period: QUARTER.start, periodStart: QUARTER.start, periodEnd: QUARTER.end });
    expect(cycle.periods).toHaveLength(12);
    expect(cycle.periods.filter((label) => !isQuarterStart(label))).toEqual([]);
    expect(cycle.periods).toContain(QUARTER.start);
    // Through the module: the picker offers the quarters due on the 15th, and a quarter's page names its first and last day.
    const quarterly = await clientData({ period: QUARTER.start }, pages.phpUrl, CYCLE_SERVICE_ID);
    expect(quarterly.ictvoipCalls).toMatchObject({ period: QUARTER.start, periodStart: QUARTER.start, periodEnd: QUARTER.end });
    const options = quarterly.ictvoipLinks.periods.map((option: { value: string }) => option.value);
    expect(options).toEqual(cycle.periods);
    expect(quarterly.ictvoipLinks.periods.find((option: { selected: boolean }) => option.selected).value).toBe(QUARTER.start);
    expect(quarterly.ictvoipLinks.csv).toContain(`period=${QUARTER.start}`);
    const page = await html(`/clientarea.php?action=productdetails&id=${CYCLE_SERVICE_ID}&period=${QUARTER.start}`);
    expectNoPhpError(page);
    expect(page).toContain(`<option value="${QUARTER.start}" selected>${QUARTER.start}</option>`);
    expect(quarterly.ictvoipCalls.periodLastDay).toBe(QUARTER.lastDay);
    expect(page).toContain(`(${QUARTER.start} &ndash; ${QUARTER.lastDay})`);
    // The module passes a YYYY-MM-DD period on; a calendar-month service answers with the month containing it.
    const calendar = await clientData({ period: periodDay(15) });
    expect(calendar.ictvoipCalls).toMatchObject({ period: PERIOD, periodStart: PERIOD_START });
    expect((await signedPost('/whmcs/client/calls', { serviceId: SERVICE_ID, period: '2026-02-30' }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(400);
  });

  test('the page escapes hostile caller names, devices and numbers and holds no secret', async () => {
    const page = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${PERIOD}`);
    expectNoPhpError(page);
    expect(page).toContain('id="ictvoip-calls"');
    expect(page).toContain('id="ictvoip-csv"');
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;&quot;quoted&quot;');
    expect(page).toContain('=cmd|&#039; /C calc&#039;!A0');
    expect(page).not.toContain(pages.webhookSecret);
    expect(page).not.toContain(pages.adminToken);
    expect(page).toContain(`href="clientarea.php?action=productdetails&amp;id=8801&amp;modop=custom&amp;a=downloadCalls&amp;period=${PERIOD}"`);
  });

  test('CSV download: streamed by the bridge through the module, formulas neutralised, same calls as the page', async () => {
    const response = await fetch(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="calls-${DOMAIN}-${PERIOD}.csv"`);
    const lines = (await response.text()).trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^uuid,startStamp,/);
    expect(lines).toHaveLength(6);
    const hostile = lines.find((line) => line.includes('calc'))!;
    expect(hostile).toContain(`,'=cmd|' /C calc'!A0,`);
    expect(hostile).toContain('0.042000,rated');
    expect(lines.filter((line) => line.endsWith(',not_billable'))).toHaveLength(1);
    const searched = await (await fetch(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}&number=4930`)).text();
    expect(searched.trimEnd().split('\r\n')).toHaveLength(3);
    // Only allowed custom functions run.
    const refused = await fetch(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=TerminateAccount`);
    expect(refused.status).toBe(403);
    // Read, so its socket closes (an unread answer keeps it open and the jest worker alive).
    await refused.arrayBuffer();
  });

  test('bridge down: a message on the page and for the download, never a PHP error', async () => {
    const port = await closedPort();
    await pages.withBridgeAt(`http://127.0.0.1:${port}`, async (phpUrl) => {
      const data = await clientData({ period: PERIOD }, phpUrl);
      expect(data).toMatchObject({ ictvoipUnavailable: true, ictvoipCallsUnavailable: true, ictvoipPhonesUnavailable: true, ictvoipCalls: null, ictvoipPhones: null });
      const page = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}`, phpUrl);
      expectNoPhpError(page);
      expect(page).toContain('Live telephony details are temporarily unavailable');
      const download = await html(`/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`, phpUrl);
      expectNoPhpError(download);
      expect(download).toContain('The call list could not be downloaded right now');
    });
    const log = readModuleLog(pages.moduleLog);
    expect(log).toContain('downloadCalls');
    expect(log).not.toContain(pages.webhookSecret);
  });

  test('a download that never ends is cut at ICTVOIP_TOTAL_TIMEOUT when an install defines one (3 s here), not after 300 s', async () => {
    let lines = 0;
    const trickle = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
      res.write('uuid,startStamp\n');
      const timer = setInterval(() => {
        lines += 1;
        res.write(`${lines},2026-10-01T00:00:00Z\n`);
      }, 200);
      res.on('close', () => clearInterval(timer));
    });
    trickle.listen(0, '127.0.0.1');
    await once(trickle, 'listening');
    try {
      await pages.withBridgeAt(`http://127.0.0.1:${(trickle.address() as AddressInfo).port}`, async (phpUrl) => {
        const started = Date.now();
        const download = await (await fetch(`${phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`)).text();
        expect(Date.now() - started).toBeLessThan(15_000);
        // It was streaming when it was cut: the rows that came are not passed on as if they were the file.
        expect(lines).toBeGreaterThan(5);
        expect(download).not.toContain('uuid,startStamp');
        expect(download).toContain('The call list could not be downloaded right now');
      }, FAST_GIVE_UP);
    } finally {
      trickle.closeAllConnections();
      await new Promise((resolve) => trickle.close(resolve));
    }
  }, 60_000);

  test('the bridge dropping the download mid-stream (its database failing after the first rows): the browser gets the message, never a shorter file that looks complete', async () => {
    let sent = 0;
    const cut = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="calls-${DOMAIN}-${PERIOD}.csv"` });
      res.write('uuid,startStamp\n1,2026-10-01T00:00:00Z\n', () => {
        sent += 1;
        // What the bridge does when a page fails after the first bytes: the chunked body is never terminated.
        res.destroy();
      });
    });
    cut.listen(0, '127.0.0.1');
    await once(cut, 'listening');
    try {
      await pages.withBridgeAt(`http://127.0.0.1:${(cut.address() as AddressInfo).port}`, async (phpUrl) => {
        const response = await fetch(`${phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`);
        expect(response.headers.get('content-disposition')).toBeNull();
        const download = await response.text();
        expect(sent).toBe(1);
        expect(download).not.toContain('uuid,startStamp');
        expect(download).toContain('The call list could not be downloaded right now');
        expectNoPhpError(download);
      });
    } finally {
      cut.closeAllConnections();
      await new Promise((resolve) => cut.close(resolve));
    }
    const log = readModuleLog(pages.moduleLog);
    expect(log).toMatch(/the bridge stopped after \d+ bytes of the file/);
    expect(log).not.toContain(pages.webhookSecret);
  });

  test('the bridge refusing the download: the client area page (its top included) with the message, not a blank page', async () => {
    const refusing = createHttpServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'DATABASE_UNAVAILABLE', message: 'the call records cannot be read right now' } }));
    });
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    const down = await closedPort();
    try {
      for (const bridge of [`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`, `http://127.0.0.1:${down}`]) {
        await pages.withBridgeAt(bridge, async (phpUrl) => {
          const response = await fetch(`${phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`);
          expect(response.status).toBe(200);
          expect(response.headers.get('content-type')).toMatch(/^text\/html/);
          expect(response.headers.get('content-disposition')).toBeNull();
          const page = await response.text();
          expectNoPhpError(page);
          // The page WHMCS had begun before the custom function ran is still there, the message in it.
          expect(page).toMatch(/^<!doctype html>.*<title>Product details<\/title>.*<h2>Product details<\/h2><div class="alert alert-danger" id="module-error">The call list could not be downloaded right now/s);
          expect(page).toMatch(/<\/html>$/);
        });
      }
    } finally {
      refusing.closeAllConnections();
      await new Promise((resolve) => refusing.close(resolve));
    }
    expect(readModuleLog(pages.moduleLog)).toContain('the bridge answered HTTP 503: the call records cannot be read right now');
  });

  test('a whole download is sent with its Content-Length', async () => {
    const response = await fetch(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=downloadCalls&period=${PERIOD}`);
    const body = Buffer.from(await response.arrayBuffer());
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('content-length'))).toBe(body.byteLength);
    expect(body.toString('utf8')).toMatch(/^uuid,startStamp,/);
  });
});

describe('reset SIP password (client area custom button)', () => {
  /** The reset page; a form is POSTed with the session's CSRF token, as the page's own form sends it. */
  async function resetPage(form?: Record<string, string>, base = pages.phpUrl, query = ''): Promise<{ status: number; text: string; cache: string | null }> {
    const url = `${base}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=resetSipPassword${query}`;
    const response = await fetch(url, form ? { method: 'POST', body: new URLSearchParams({ token: CSRF_TOKEN, ...form }) } : {});
    return { status: response.status, text: await response.text(), cache: response.headers.get('cache-control') };
  }

  async function storedPassword(extension: string, domain = DOMAIN): Promise<string | null> {
    const { rows } = await pages.bridge.fusion.query<{ password: string | null }>('select e.password from v_extensions e join v_domains d using (domain_uuid) where d.domain_name = $1 and e.extension = $2', [
      domain,
      extension,
    ]);
    return rows[0]?.password ?? null;
  }

  function shownPassword(text: string): string | null {
    const shown = /<code id="ictvoip-new-password"[^>]*>([^<]+)<\/code>/.exec(text)?.[1];
    return shown === undefined ? null : shown.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#039;/g, "'").replace(/&amp;/g, '&');
  }

  async function resetRows(): Promise<{ writes: number; audits: number }> {
    const pool = pages.bridge.api!.deps.pool;
    const writes = await pool.query('SELECT 1 FROM tenant_writes WHERE service_id = $1', [SERVICE_ID]);
    const audits = await pool.query("SELECT 1 FROM audit_log WHERE action = 'client.sip-password.reset'");
    return { writes: writes.rowCount ?? 0, audits: audits.rowCount ?? 0 };
  }

  test("only this service's phones: another tenant's extension, a POST without WHMCS's CSRF token, a GET naming a phone reset nothing", async () => {
    await pages.bridge.startWorker({ schedulers: false });
    try {
      // Extension 150 exists, but in another customer's tenant (service 8803).
      const { rows } = await pages.bridge.fusion.query<{ domain_uuid: string }>('select domain_uuid from v_domains where domain_name = $1', [CYCLE_DOMAIN]);
      await pages.bridge.fusion.query(
        "insert into v_extensions (extension_uuid, domain_uuid, extension, password, user_context, enabled, insert_date) values ($1, $2, '150', 'their-own-password', $3, 'true', now())",
        [randomUUID(), rows[0]!.domain_uuid, CYCLE_DOMAIN],
      );
      const other = await resetPage({ extension: '150' });
      expectNoPhpError(other.text);
      expect(other.text).toContain('This phone does not exist');
      expect(shownPassword(other.text)).toBeNull();
      expect((await signedPost('/whmcs/client/phones/reset-password', { serviceId: SERVICE_ID, extension: '150' }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(404);
      expect(await storedPassword('150', CYCLE_DOMAIN)).toBe('their-own-password');

      const before = await storedPassword('100');
      const forged = await fetch(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=resetSipPassword`, {
        method: 'POST',
        body: new URLSearchParams({ extension: '100' }),
      });
      expect(forged.status).toBe(403);
      expect(shownPassword(await forged.text())).toBeNull();
      const linked = await resetPage(undefined, pages.phpUrl, '&extension=100');
      expect(linked.text).toContain('<option value="100" selected>');
      expect(shownPassword(linked.text)).toBeNull();
      expect(await storedPassword('100')).toBe(before);
      // Nothing reached the write path or the reset count.
      expect(await resetRows()).toEqual({ writes: 0, audits: 0 });
    } finally {
      await pages.bridge.worker?.close();
      pages.bridge.worker = null;
    }
  });

  test('choose a phone, get a new password once: written to FusionPBX by the REST write job, FreeSWITCH cache cleared, audited, never logged; rate-limited', async () => {
    await pages.bridge.startWorker({ schedulers: false });
    try {
      const chooser = await resetPage();
      expect(chooser.status).toBe(200);
      expectNoPhpError(chooser.text);
      expect(chooser.text).toContain('id="ictvoip-reset-choose"');
      expect(chooser.text).toContain('<option value="101">101 &ndash; &lt;script&gt;');

      // A phone FusionPBX provisions: its device line holds the SIP password too (the slim fixture lacks the table: 5.1's definition).
      await pages.bridge.fusion.query(
        'create table if not exists v_device_lines (domain_uuid uuid, device_line_uuid uuid primary key, device_uuid uuid, line_number text, server_address text, user_id text, auth_id text, password text, enabled text, update_date timestamptz, update_user uuid)',
      );
      const lineUuid = randomUUID();
      await pages.bridge.fusion.query(
        "insert into v_device_lines (domain_uuid, device_line_uuid, device_uuid, line_number, server_address, user_id, auth_id, password, enabled) select domain_uuid, $1, $2, '1', domain_name, '100', '100', 'old-line', 'true' from v_domains where domain_name = $3",
        [lineUuid, randomUUID(), DOMAIN],
      );
      const before = await storedPassword('100');
      const done = await resetPage({ extension: '100' });
      expectNoPhpError(done.text);
      expect(done.cache).toBe('no-store');
      const shown = /<code id="ictvoip-new-password"[^>]*>([^<]+)<\/code>/.exec(done.text)?.[1];
      expect(shown).toMatch(/^.{20}$/);
      const password = shown!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#039;/g, "'");
      expect(await storedPassword('100')).toBe(password);
      expect(password).not.toBe(before);
      const line = await pages.bridge.fusion.query('select password from v_device_lines where device_line_uuid = $1', [lineUuid]);
      expect(line.rows[0].password).toBe(password);
      expect(pages.bridge.esl.apiCommands).toContain(`memcache delete directory:100@${DOMAIN}`);

      const { rows: writes } = await pages.bridge.api!.deps.pool.query('SELECT resource, operation, target, input, status, sealed_secrets FROM tenant_writes WHERE service_id = $1', [SERVICE_ID]);
      expect(writes).toEqual([expect.objectContaining({ resource: 'extension', operation: 'update', target: '100', input: { fields: {}, resetPassword: true }, status: 'succeeded' })]);
      expect(writes[0].sealed_secrets).not.toContain(password);
      const audit = await pages.bridge.api!.deps.pool.query("SELECT actor, service_id, detail FROM audit_log WHERE action = 'client.sip-password.reset'");
      expect(audit.rows).toEqual([{ actor: 'whmcs-client:42', service_id: String(SERVICE_ID), detail: { extension: '100', requestId: expect.any(String) } }]);
      expect(readModuleLog(pages.moduleLog)).toContain('resetSipPassword');
      expect(readModuleLog(pages.moduleLog)).not.toContain(password);
      expect(JSON.stringify(await pages.bridge.api!.deps.pool.query('SELECT detail FROM audit_log'))).not.toContain(password);

      // An unknown phone, then the limit: four more resets this hour make five; the sixth is refused and writes nothing.
      expect((await resetPage({ extension: '199' })).text).toContain('This phone does not exist');
      await pages.bridge.api!.deps.pool.query(
        "INSERT INTO audit_log (actor, action, service_id, detail) SELECT 'whmcs-client:42', 'client.sip-password.reset', $1, '{}' FROM generate_series(1, 4)",
        [SERVICE_ID],
      );
      const refused = await resetPage({ extension: '100' });
      expect(refused.text).toContain('Too many password resets');
      expect(refused.text).not.toContain('ictvoip-new-password');
      expect(await storedPassword('100')).toBe(password);
      const direct = await signedPost('/whmcs/client/phones/reset-password', { serviceId: SERVICE_ID, extension: '100' });
      await direct.body?.cancel();
      expect(direct.status).toBe(429);
      expect(Number(direct.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await pages.bridge.worker?.close();
      pages.bridge.worker = null;
    }
  });

  test('repeat: pressing again (or resending the form) gives another password, written and audited again; the first one is gone', async () => {
    // The limit counts this hour's resets: start from none (the test before used them up).
    await pages.bridge.api!.deps.pool.query("DELETE FROM audit_log WHERE action = 'client.sip-password.reset'");
    const before = await resetRows();
    await pages.bridge.startWorker({ schedulers: false });
    try {
      const first = shownPassword((await resetPage({ extension: '101' })).text);
      const second = shownPassword((await resetPage({ extension: '101' })).text);
      expect(first).toMatch(/^.{20}$/);
      expect(second).toMatch(/^.{20}$/);
      expect(second).not.toBe(first);
      expect(await storedPassword('101')).toBe(second);
      expect(await resetRows()).toEqual({ writes: before.writes + 2, audits: 2 });
      const log = readModuleLog(pages.moduleLog);
      expect(log).not.toContain(first!);
      expect(log).not.toContain(second!);
    } finally {
      await pages.bridge.worker?.close();
      pages.bridge.worker = null;
    }
  });

  test('worker down at the press: the password is shown (as being applied) within the module read, and the worker sets exactly it when it is back', async () => {
    // The bridge answers after RESET_WAIT_MS, inside the module's 10 s read: waiting API_WRITE_WAIT_MS
    // (10 s here) the module gave up first and the worker later set a password nobody saw.
    const done = await resetPage({ extension: '100' });
    expectNoPhpError(done.text);
    const shown = shownPassword(done.text);
    expect(shown).toMatch(/^.{20}$/);
    expect(done.text).toContain('The PBX is applying it');
    expect(await storedPassword('100')).not.toBe(shown);
    await pages.bridge.startWorker({ schedulers: false });
    try {
      await waitFor(async () => (await storedPassword('100')) === shown, 30000, 'the queued reset applied');
      expect(readModuleLog(pages.moduleLog)).not.toContain(shown!);
    } finally {
      await pages.bridge.worker?.close();
      pages.bridge.worker = null;
    }
  });

  test('bridge down: the reset page says so, on the choice and on the POST; no PHP error, nothing shown', async () => {
    const port = await closedPort();
    await pages.withBridgeAt(`http://127.0.0.1:${port}`, async (phpUrl) => {
      const chooser = await resetPage(undefined, phpUrl);
      expect(chooser.status).toBe(200);
      expectNoPhpError(chooser.text);
      expect(chooser.text).toContain('Live telephony details are temporarily unavailable');
      const posted = await resetPage({ extension: '100' }, phpUrl);
      expect(posted.status).toBe(200);
      expectNoPhpError(posted.text);
      expect(posted.text).toContain('The password could not be reset right now');
      expect(shownPassword(posted.text)).toBeNull();
    });
  });

  test('the reset route is signed like the others and checks the extension', async () => {
    const unsigned = await fetch(`${pages.bridge.url}/whmcs/client/phones/reset-password`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"serviceId":8801,"extension":"100"}' });
    await unsigned.body?.cancel();
    expect(unsigned.status).toBe(401);
    const bad = await signedPost('/whmcs/client/phones/reset-password', { serviceId: SERVICE_ID, extension: '10a' });
    await bad.body?.cancel();
    expect(bad.status).toBe(400);
  });
});

describe('bridge routes the module calls', () => {
  test('unsigned or wrongly signed requests are 401; bad fields are 400 naming the field', async () => {
    expect((await fetch(`${pages.bridge.url}/whmcs/client/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"serviceId":8801}' }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(401);
    expect((await signedPost('/whmcs/client/calls', { serviceId: SERVICE_ID }, 'not-the-secret').then(async (res) => (await res.body?.cancel(), res))).status).toBe(401);
    const bad = await signedPost('/whmcs/client/calls', { serviceId: SERVICE_ID, period: '2026-13', number: 'abc' });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { details: { path: string }[] } };
    expect(body.error.details.map((detail) => detail.path).sort()).toEqual(['number', 'period']);
    expect((await signedPost('/whmcs/client/phones', { serviceId: 999999 }).then(async (res) => (await res.body?.cancel(), res))).status).toBe(404);
    const forged = await signedPost('/whmcs/client/calls', { serviceId: SERVICE_ID, period: PERIOD, cursor: 'bm90LWEtY3Vyc29y' });
    await forged.body?.cancel();
    expect(forged.status).toBe(400);
  });

  test('admin page routes need the admin token and name bad fields', async () => {
    expect((await fetch(`${pages.bridge.url}/admin/pages/dashboard`).then(async (res) => (await res.body?.cancel(), res))).status).toBe(401);
    const bad = await fetch(`${pages.bridge.url}/admin/pages/rate-decks/preview`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pages.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', currency: 'euro', countryCode: '49', csv: 'prefix,rate_per_minute\n49,0.01\n' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { details: { path: string }[] } }).error.details.map((detail) => detail.path)).toEqual(['body.currency']);
  });
});

describe('addon module (admin pages)', () => {
  test('dashboard: queues, a failed job retried once and audited, drift, unrated calls, CDR sync, server health', async () => {
    const failed = await failedMaintenanceJob(pages, 'failing-job-1', 'FusionPBX said no <b>bold</b>');
    try {
      const dashboard = (await addonData()).dashboard;
      expect(dashboard.queues.map((entry: { name: string }) => entry.name)).toEqual(expect.arrayContaining(Object.values(QUEUE_NAMES)));
      expect(dashboard.failedJobs).toEqual([expect.objectContaining({ queue: QUEUE_NAMES.maintenance, id: 'failing-job-1', failedReason: 'FusionPBX said no <b>bold</b>' })]);
      expect(dashboard.unrated).toMatchObject({ total: 1, byService: [{ serviceId: SERVICE_ID, calls: 1, oldest: `${periodDay(4)}T10:00:00.000Z` }] });
      expect(dashboard.servers).toEqual([expect.objectContaining({ name: 'default', databaseOk: true })]);
      expect(dashboard.registrations.lostNow).toEqual([expect.objectContaining({ extension: '101', serviceId: SERVICE_ID })]);

      const page = await html('/admin/addonmodules.php?module=ictvoip');
      expectNoPhpError(page);
      expect(page).toContain('FusionPBX said no &lt;b&gt;bold&lt;/b&gt;');
      expect(page).not.toContain(pages.adminToken);

      // A forged POST (no WHMCS CSRF token) stops at check_token: nothing retried, nothing audited.
      const forged = await fetch(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=dashboard`, {
        method: 'POST',
        body: new URLSearchParams({ do: 'retry', queue: QUEUE_NAMES.maintenance, jobId: 'failing-job-1' }),
      });
      expect(forged.status).toBe(403);
      await forged.arrayBuffer();
      expect(await (await failed.queue.getJob('failing-job-1'))!.getState()).toBe('failed');
      expect(await auditRows('admin.job.retry')).toEqual([]);

      const retried = await addonData({ page: 'dashboard' }, { do: 'retry', queue: QUEUE_NAMES.maintenance, jobId: 'failing-job-1' });
      expect(retried.notice).toBe('job failing-job-1 (maintenance.test-failure) queued again');
      expect(await (await failed.queue.getJob('failing-job-1'))!.getState()).toBe('waiting');
      const again = await addonData({ page: 'dashboard' }, { do: 'retry', queue: QUEUE_NAMES.maintenance, jobId: 'failing-job-1' });
      expect(again.notice).toBe('job failing-job-1 is waiting, not failed: nothing to retry');
      const gone = await addonData({ page: 'dashboard' }, { do: 'retry', queue: QUEUE_NAMES.maintenance, jobId: 'no-such-job' });
      expect(gone.error).toMatchObject({ kind: 'refused' });
      // Every press is audited with the admin's name; only the first retried anything.
      const target = { queue: QUEUE_NAMES.maintenance, jobId: 'failing-job-1', name: 'maintenance.test-failure' };
      expect(await auditRows('admin.job.retry')).toEqual([
        { actor: ADMIN_ACTOR, detail: { ...target, retried: true } },
        { actor: ADMIN_ACTOR, detail: { ...target, retried: false, state: 'waiting' } },
        { actor: ADMIN_ACTOR, detail: { queue: QUEUE_NAMES.maintenance, jobId: 'no-such-job', retried: false, state: 'missing' } },
      ]);

      const unknown = await addonData({ page: 'dashboard' }, { do: 'retry', queue: 'no-such-queue', jobId: 'x' });
      expect(unknown.error).toMatchObject({ kind: 'refused', details: [expect.objectContaining({ path: 'body.queue' })] });
    } finally {
      await failed.close();
    }
  });

  test("dashboard: Retry of a create whose attempts ran out is refused, pointing at WHMCS's Create (the bridge no longer holds the service password)", async () => {
    const eventId = randomUUID();
    const { inbox } = pages.bridge.api!.deps;
    await recordFailedCreate(inbox, { eventId, serviceId: 8899, jobId: 'create-job-1', error: 'FusionPBX database did not answer' });
    const failed = await failedJob(pages, QUEUE_NAMES.provisioning, 'tenant.create', { eventId, serviceId: 8899, action: 'create' }, 'create-job-1', 'FusionPBX database did not answer');
    try {
      const retried = await addonData({ page: 'dashboard' }, { do: 'retry', queue: QUEUE_NAMES.provisioning, jobId: 'create-job-1' });
      expect(retried.notice ?? null).toBeNull();
      expect(retried.error).toMatchObject({ kind: 'refused' });
      expect(JSON.stringify(retried.error)).toContain("Press the action again in WHMCS (the service's Create button");
      expect(await (await failed.queue.getJob('create-job-1'))!.getState()).toBe('failed');
      expect((await auditRows('admin.job.retry')).at(-1)).toEqual({
        actor: ADMIN_ACTOR,
        detail: { queue: QUEUE_NAMES.provisioning, jobId: 'create-job-1', name: 'tenant.create', retried: false, state: 'event failed' },
      });
    } finally {
      await failed.close();
    }
  });

  test("dashboard: the last drift report's counts by kind, as GET /admin/drift has them", async () => {
    const worker = await pages.bridge.startWorker({ schedulers: false });
    let ran: { state: string; result: { report: { checkedAt: string; counts: Record<string, number>; items: unknown[] } } };
    try {
      const response = await fetch(`${pages.bridge.url}/admin/drift?wait=20`, { method: 'POST', headers: { authorization: `Bearer ${pages.adminToken}` } });
      ran = (await response.json()) as typeof ran;
    } finally {
      await worker.close();
      pages.bridge.worker = null;
    }
    expect(ran.state).toBe('completed');
    const { counts, checkedAt, items } = ran.result.report;
    expect(Object.values(counts).some((count) => count > 0)).toBe(true);
    const drift = (await addonData()).dashboard.drift;
    expect(drift).toEqual({ checkedAt, counts, items: items.length });
    const page = await html('/admin/addonmodules.php?module=ictvoip');
    expectNoPhpError(page);
    const [kind, count] = Object.entries(counts).find(([, value]) => value > 0)!;
    expect(page).toContain(`<td>${kind}</td><td>${count}</td>`);
  });

  const GOOD_DECK = 'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from\n4930,Berlin,0.0100,0,60,60,2026-01-01\n49,Germany,0.0200,0.05,30,6,2026-01-01\n';
  const BAD_DECK = 'prefix,destination,rate_per_minute,connect_fee,initial_increment,subsequent_increment,effective_from\n4930,Berlin,0.0100,0,60,60,2026-01-01\n49x,Bad,cheap,0,60,60,2026-01-01\n';
  const deckForm = (csv: string, action: string) => ({ do: action, name: 'retail-de', currency: 'EUR', countryCode: '49', nationalPrefix: '0', csv });

  test('rate deck: preview shows the first lines and the errors by line; a bad deck stores nothing; a good one is imported, audited and shown', async () => {
    const bad = await addonData({ page: 'ratedecks' }, deckForm(BAD_DECK, 'deckPreview'));
    expect(bad.preview.ok).toBe(false);
    expect(bad.preview.firstLines[2]).toBe('49x,Bad,cheap,0,60,60,2026-01-01');
    expect(bad.preview.issues.map((issue: { line: number }) => issue.line)).toEqual([3, 3]);
    const refused = await addonData({ page: 'ratedecks' }, deckForm(BAD_DECK, 'deckImport'));
    expect(refused.error).toMatchObject({ kind: 'refused', message: expect.stringContaining('nothing stored') });
    expect(refused.error.details[0].path).toBe('line 3');
    expect(refused.form.csv).toBe(BAD_DECK);
    expect(refused.decks).toEqual([]);

    const preview = await addonData({ page: 'ratedecks' }, deckForm(GOOD_DECK, 'deckPreview'));
    expect(preview.preview).toMatchObject({ ok: true, revision: 1, added: 2, issues: [] });
    expect(preview.preview.firstRates[0]).toMatchObject({ prefix: '4930', ratePerMinute: '0.010000', increments: '60/60', line: 2 });
    expect(preview.previewSummary).toBe('Would store revision 1: 2 rates (2 added, 0 changed, 0 unchanged, 0 removed).');
    const imported = await addonData({ page: 'ratedecks' }, deckForm(GOOD_DECK, 'deckImport'));
    expect(imported.notice).toBe('Deck retail-de: revision 1, 2 rates stored.');
    expect(imported.decks).toEqual([expect.objectContaining({ name: 'retail-de', revision: 1, entryCount: 2, currency: 'EUR' })]);
    const shown = await addonData({ page: 'ratedecks', deck: 'retail-de', prefix: '493' });
    expect(shown.deck.entries).toEqual([expect.objectContaining({ prefix: '4930', destination: 'Berlin', ratePerMinute: '0.010000' })]);
    expect(await auditRows('admin.rate-deck.import')).toEqual([
      { actor: ADMIN_ACTOR, detail: { deck: 'retail-de', stored: false, rejectedLines: 1, currency: 'EUR' } },
      { actor: ADMIN_ACTOR, detail: { deck: 'retail-de', stored: true, revision: 1, entryCount: 2, currency: 'EUR' } },
    ]);
    expect(await auditRows('admin.rate-deck.preview')).toEqual([
      { actor: ADMIN_ACTOR, detail: { deck: 'retail-de', ok: false, dataLines: 2, rejectedLines: 1 } },
      { actor: ADMIN_ACTOR, detail: { deck: 'retail-de', ok: true, dataLines: 2, rejectedLines: 0 } },
    ]);

    // Next year's prices uploaded ahead: today's stay in force until they start, and the page says so.
    const ahead = GOOD_DECK.replace(/2026-01-01/g, '2027-01-01').replace('0.0100', '0.0150');
    const later = await addonData({ page: 'ratedecks' }, deckForm(ahead, 'deckPreview'));
    expect(later.previewSummary).toBe(
      "Would store revision 2: 2 rates (2 added, 0 changed, 0 unchanged, 0 removed). 2 earlier rates stay in force until 2027-01-01T00:00:00.000Z, when the file's rates start.",
    );
    const importedAhead = await addonData({ page: 'ratedecks' }, deckForm(ahead, 'deckImport'));
    expect(importedAhead.notice).toBe("Deck retail-de: revision 2, 2 rates stored. 2 earlier rates stay in force until 2027-01-01T00:00:00.000Z, when the file's rates start.");
  });

  test('rate deck: preview and import show the warnings by line; an increment column the importer does not read is refused by name', async () => {
    const warned = 'Description,Prefix,RateValue,Increment,Status\nFrance,33,0.0100,6,Active\nFrance mobile,336,0.0500,6,Inactive\n';
    const form = { do: 'deckPreview', name: 'warned-fr', currency: 'EUR', countryCode: '33', nationalPrefix: '0', csv: warned };
    const preview = await addonData({ page: 'ratedecks' }, form);
    expect(preview.preview).toMatchObject({ ok: true, moreWarnings: 0, warnings: [{ line: 3, column: 'Status', message: 'skipped: status "Inactive"' }] });
    const previewPage = await postedHtml(form);
    expectNoPhpError(previewPage);
    expect(previewPage).toMatch(/id="ictvoip-deck-warnings">[\s\S]*<td>3<\/td><td>Status<\/td><td>skipped: status &quot;Inactive&quot;<\/td>/);

    // 102 warnings: past the first 100 the page says how many more.
    const many = Array.from({ length: 101 }, (_, i) => `France ${i},${3360 + i},0.0500,6,Inactive`).join('\n');
    const manyPage = await postedHtml({ ...form, csv: `${warned}${many}\n` });
    expect(manyPage).toContain('<p>… and 2 more</p>');

    const imported = await addonData({ page: 'ratedecks' }, { ...form, do: 'deckImport' });
    expect(imported.notice).toBe('Deck warned-fr: revision 1, 1 rates stored.');
    expect(imported.importWarnings).toEqual({ warnings: [{ line: 3, column: 'Status', message: 'skipped: status "Inactive"' }], moreWarnings: 0 });
    const importPage = await postedHtml({ ...form, name: 'warned-fr2', do: 'deckImport' });
    expectNoPhpError(importPage);
    expect(importPage).toMatch(/id="ictvoip-import-warnings">[\s\S]*<td>3<\/td><td>Status<\/td>/);

    const interval = { ...form, name: 'interval-fr', csv: 'Prefix,Destination,Rate,Interval 2\n33,France,0.01,1\n' };
    const refusedPreview = await addonData({ page: 'ratedecks' }, interval);
    expect(refusedPreview.preview.issues).toEqual([{ line: 1, column: 'Interval 2', message: expect.stringContaining('column "Interval 2" looks like a billing increment') }]);
    const refused = await addonData({ page: 'ratedecks' }, { ...interval, do: 'deckImport' });
    expect(refused.error).toMatchObject({ kind: 'refused', details: [{ path: 'line 1', message: expect.stringContaining('Interval 2: column "Interval 2"') }] });
  });

  test('rate deck: a NANP deck imported with the form as it is first shown dials 1 + 10 digits and 011 right; "none" states no trunk prefix', async () => {
    const blank = await addonData({ page: 'ratedecks' });
    const tariff = 'Description,Prefix,RateValue,Increment\nCanada - 204 Manitoba,1204,0.01,6\nUnited Kingdom,44,0.02,6\n';
    const form = { do: 'deckImport', name: 'nanp-form', currency: 'CAD', countryCode: '1', nationalPrefix: blank.form.nationalPrefix, csv: tariff };
    expect((await addonData({ page: 'ratedecks' }, form)).notice).toBe('Deck nanp-form: revision 1, 2 rates stored.');
    const plan = async (name: string) =>
      (await pages.bridge.api!.deps.pool.query('SELECT national_prefix, international_prefixes FROM rate_decks WHERE name = $1', [name])).rows[0];
    // Trunk prefix 1: "1 204 555 0100" is +1 204…, not +1 1204… (unrated, or priced by a shorter prefix).
    expect(await plan('nanp-form')).toEqual({ national_prefix: '1', international_prefixes: ['011'] });
    await addonData({ page: 'ratedecks' }, { ...form, name: 'it-form', currency: 'EUR', countryCode: '39', nationalPrefix: 'none', csv: 'prefix,rate\n3906,0.01\n' });
    expect(await plan('it-form')).toEqual({ national_prefix: '', international_prefixes: ['00'] });
  });

  test("billing batches of a period with their state and the WHMCS invoice link", async () => {
    const data = await addonData({ page: 'batches', period: OTHER_PERIOD });
    expect(data.periods).toContain(OTHER_PERIOD);
    expect(data.batches).toHaveLength(2);
    const pushed = data.batches.find((batch: { serviceId: number }) => batch.serviceId === SERVICE_ID);
    expect(pushed).toMatchObject({ state: 'pushed', lineAmount: '0.06', invoiceLink: `invoices.php?action=edit&id=${INVOICE_ID}` });
    expect(data.batches.find((batch: { serviceId: number }) => batch.serviceId === 8802)).toMatchObject({ state: 'failed', invoiceLink: '' });
    expect((await addonData({ page: 'batches', period: PERIOD })).batches).toEqual([]);
    const page = await html(`/admin/addonmodules.php?module=ictvoip&page=batches&period=${OTHER_PERIOD}`);
    expectNoPhpError(page);
    expect(page).toContain(`href="invoices.php?action=edit&amp;id=${INVOICE_ID}"`);
  });

  test('servers and registration alerts', async () => {
    const data = await addonData({ page: 'servers' });
    expect(data.servers).toEqual([expect.objectContaining({ name: 'default', databaseOk: true })]);
    expect(data.registrations.history).toEqual([expect.objectContaining({ extension: '101', transition: 'lost', alertSent: false })]);
  });

  test('CDR sync per server: a server whose cursors a backfill made (never synced) shows "never synced", not 1970', async () => {
    const pool = pages.bridge.api!.deps.pool;
    // The cursor cdr backfill creates: last_run_at is the epoch (it is not a sync run).
    await pool.query(
      `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid, last_run_at)
       VALUES ($1, gen_random_uuid(), $2, now() - interval '1 hour', gen_random_uuid(), 'epoch')`,
      [SERVICE_ID, DOMAIN],
    );
    try {
      expect((await addonData({ page: 'servers' })).cdrSync).toEqual([{ server: 'default', tenants: 1, lastRunAt: null, newestCdrAt: expect.any(String) }]);
      const never = await html('/admin/addonmodules.php?module=ictvoip&page=servers');
      expectNoPhpError(never);
      expect(never).toMatch(/id="ictvoip-cdr-sync">[\s\S]*<td>default<\/td><td>1<\/td><td>never synced<\/td>/);
      expect(never).not.toContain('1970-01-01');

      await pool.query('UPDATE cdr_sync_cursors SET last_run_at = now() WHERE service_id = $1', [SERVICE_ID]);
      const synced = (await addonData({ page: 'servers' })).cdrSync[0];
      expect(Date.parse(synced.lastRunAt)).toBeGreaterThan(Date.now() - 60_000);
      expect(await html('/admin/addonmodules.php?module=ictvoip&page=servers')).not.toContain('never synced');
    } finally {
      await pool.query('DELETE FROM cdr_sync_cursors WHERE service_id = $1', [SERVICE_ID]);
    }
  });

  test('credit control per service: mode, state, available credit, last mail', async () => {
    const data = await addonData({ page: 'credit' });
    expect(data.credit).toEqual([
      expect.objectContaining({
        serviceId: SERVICE_ID,
        clientId: 42,
        mode: 'outbound',
        state: 'low',
        available: '3.500000',
        threshold: '5.000000',
        creditLimit: null,
        currency: 'EUR',
        lastMail: expect.objectContaining({ kind: 'low', state: 'sent' }),
        serviceLink: `clientsservices.php?id=${SERVICE_ID}`,
      }),
    ]);
    const page = await html('/admin/addonmodules.php?module=ictvoip&page=credit');
    expectNoPhpError(page);
    expect(page).toContain('id="ictvoip-credit"');
    expect(page).toContain('block outbound');
    expect(page).toMatch(/<td class="text-right">5\.000000 EUR<\/td>\s*<td class="text-right"><span class="text-muted">prepaid<\/span><\/td>/);
  });

  test('every page read is audited with the admin user name; server health is not asked again on each load', async () => {
    await pages.bridge.api!.deps.pool.query("DELETE FROM audit_log WHERE action = 'admin.page.read'");
    const statusAsked = () => pages.bridge.esl.apiCommands.filter((command) => command === 'status').length;
    await addonData({ page: 'batches', period: OTHER_PERIOD });
    await addonData();
    const afterFirst = statusAsked();
    await addonData();
    await addonData({ page: 'servers' });
    expect(statusAsked()).toBe(afterFirst);
    const reads = await auditRows('admin.page.read');
    expect(reads.map((row) => row.actor)).toEqual(Array(5).fill(ADMIN_ACTOR));
    expect(reads.map((row) => row.detail)).toEqual([
      { page: '/billing/batches', query: { period: OTHER_PERIOD } },
      { page: '/dashboard' },
      { page: '/dashboard' },
      { page: '/servers' },
      { page: '/registrations' },
    ]);
    const dashboard = (await addonData()).dashboard;
    expect(dashboard.servers[0].checkedAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  test('bridge down or addon not configured: a message naming what to do, never a PHP error', async () => {
    const port = await closedPort();
    await pages.withBridgeAt(`http://127.0.0.1:${port}`, async (phpUrl) => {
      const data = await addonData({}, undefined, phpUrl);
      expect(data.error).toMatchObject({ kind: 'bridge', message: expect.stringContaining('The bridge did not answer') });
      const page = await html('/admin/addonmodules.php?module=ictvoip', phpUrl);
      expectNoPhpError(page);
      expect(page).toContain('The bridge could not be asked');
    });
    await pages.withBridgeAt('not a url', async (phpUrl) => {
      expect((await addonData({}, undefined, phpUrl)).error).toMatchObject({ kind: 'setup', message: expect.stringContaining('Bridge URL') });
    });
  });

  test.each([
    { what: 'an empty object', body: '{}' },
    { what: 'rows that are not objects', body: '{"batches":["x",3,null],"periods":"2026-11"}' },
  ])('a 200 reply the batches page does not expect ($what): no PHP error (it was a TypeError) and no row', async ({ body }) => {
    const odd = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    odd.listen(0, '127.0.0.1');
    await once(odd, 'listening');
    try {
      await pages.withBridgeAt(`http://127.0.0.1:${(odd.address() as AddressInfo).port}`, async (phpUrl) => {
        expect((await addonData({ page: 'batches' }, undefined, phpUrl)).batches).toEqual([]);
        expectNoPhpError(await html('/admin/addonmodules.php?module=ictvoip&page=batches', phpUrl));
      });
    } finally {
      await new Promise((resolve) => odd.close(resolve));
    }
  });

  // The same bodies for every page: each page reads what it needs from them and must render without a PHP
  // warning (WHMCS shows those to the admin) and without a row made of another shape's values.
  const ODD_BODIES = [
    { what: 'an empty object', body: '{}' },
    { what: 'a JSON list', body: '[1,2]' },
    { what: 'a JSON string', body: '"ok"' },
    {
      what: 'fields of other types',
      body: JSON.stringify({
        queues: 'x',
        drift: { counts: 'y', checkedAt: ['z'] },
        unrated: 3,
        failedJobs: [1, 'a', { id: ['x'] }],
        servers: [null, 'pbx', { name: { x: 1 }, errors: 'x' }],
        cdrSync: { a: 1 },
        registrations: 'none',
        lostNow: 'x',
        history: [7],
        decks: 'x',
        services: [1],
      }),
    },
    { what: 'a refusal whose details are of other types', status: 400, body: JSON.stringify({ error: { message: ['m'], details: [{ path: ['a'], message: { b: 1 } }, 'x'] } }) },
  ];
  test.each(['dashboard', 'ratedecks', 'credit', 'servers'].flatMap((page) => ODD_BODIES.map((odd) => ({ page, ...odd }))))(
    'a reply the $page page does not expect ($what): the page renders without a PHP warning',
    async ({ page, body, status }) => {
      const odd = createHttpServer((_req, res) => res.writeHead(status ?? 200, { 'content-type': 'application/json' }).end(body));
      odd.listen(0, '127.0.0.1');
      await once(odd, 'listening');
      try {
        await pages.withBridgeAt(`http://127.0.0.1:${(odd.address() as AddressInfo).port}`, async (phpUrl) => {
          const text = await html(`/admin/addonmodules.php?module=ictvoip&page=${page}`, phpUrl);
          expectNoPhpError(text);
          expect(text).not.toContain('Array');
        });
      } finally {
        await new Promise((resolve) => odd.close(resolve));
      }
    },
  );

  test('a bridge that takes the connection and never answers: the addon gives up at ICTVOIP_TOTAL_TIMEOUT like the server module (3 s here), not after 30 s', async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      await pages.withBridgeAt(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, async (phpUrl) => {
        const started = Date.now();
        const data = await addonData({}, undefined, phpUrl);
        expect(data.error).toMatchObject({ kind: 'bridge', message: expect.stringMatching(/^The bridge did not answer: .*timed out/i) });
        expect(Date.now() - started).toBeLessThan(15_000);
      }, FAST_GIVE_UP);
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 60_000);
});
