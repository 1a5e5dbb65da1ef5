/**
 * Each page rendered by the real modules through Smarty (the php -S WHMCS stand-in) and loaded in
 * headless Chromium (Debian's chromium, driven by playwright-core): no console errors, no script from
 * the data runs, the tables and the download link are there and work. Screenshots are written to
 * ICTVOIP_ARTIFACTS_DIR (default artifacts/whmcs-pages at the repository root, gitignored; CI keeps them).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { QUEUE_NAMES } from '@ictvoip/queue';
import { CYCLE_SERVICE_ID, DOMAIN, EARLIER_QUARTER, failedMaintenanceJob, INVOICE_ID, isQuarterStart, OTHER_PERIOD, PERIOD, SERVICE_ID, startWhmcsPages, type WhmcsPages } from './whmcs-pages-harness';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.ICTVOIP_ARTIFACTS_DIR ?? path.resolve(__dirname, '../../../artifacts/whmcs-pages');

// A real browser, a PHP server and a bridge per step on a shared CI machine: generous, never a sleep.
jest.setTimeout(120000);

let pages: WhmcsPages;
let browser: Browser;

interface Visit {
  page: Page;
  problems: string[];
  /** Requests Chromium aborted, and the downloads: a navigation that becomes a download is aborted, and expected. */
  aborted: string[];
  downloads: Set<string>;
}

/** A fresh page that records console errors, failed requests and uncaught exceptions. */
async function open(url: string): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const downloads = new Set<string>();
  const aborted: string[] = [];
  page.on('download', (download) => downloads.add(download.url()));
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText === 'net::ERR_ABORTED') aborted.push(request.url());
    else problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  const response = await page.goto(url);
  expect(response?.status()).toBe(200);
  return { page, problems, aborted, downloads };
}

async function finish(visit: Visit, screenshot: string): Promise<void> {
  await visit.page.screenshot({ path: path.join(ARTIFACTS, `${screenshot}.png`), fullPage: true });
  expect(await visit.page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned ?? null)).toBeNull();
  expect(await visit.page.content()).not.toContain(pages.webhookSecret);
  expect(await visit.page.content()).not.toContain(pages.adminToken);
  const abortedElsewhere = visit.aborted.filter((url) => !visit.downloads.has(url)).map((url) => `request aborted: ${url}`);
  expect([...visit.problems, ...abortedElsewhere]).toEqual([]);
  await visit.page.context().close();
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is required for the browser tests: apt-get install chromium (or set CHROMIUM_PATH); not found at ${CHROMIUM}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  pages = await startWhmcsPages();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 90000);

afterAll(async () => {
  await browser?.close();
  await pages?.stop();
});

test('client area: pick a period, see its calls with amounts, search a number, download the CSV, see the phones', async () => {
  const visit = await open(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}`);
  const { page } = visit;
  await page.selectOption('#ictvoip-period', PERIOD);
  await Promise.all([page.waitForURL(new RegExp(`period=${PERIOD}`)), page.click('#ictvoip-calls-filter button[type=submit]')]);
  expect(await page.locator('#ictvoip-calls tbody tr').count()).toBe(2);
  expect(await page.locator('#ictvoip-calls tbody tr').first().innerText()).toContain('0.042 EUR');
  expect(await page.locator('#ictvoip-calls tbody tr').first().innerText()).toContain('<script>window.__pwned=1</script>"quoted"');
  expect(await page.locator('#ictvoip-phones tbody tr').count()).toBe(2);
  expect(await page.locator('#ictvoip-portal').getAttribute('href')).toBe('https://pages-tenant.pbx.example.net/');
  await page.screenshot({ path: path.join(ARTIFACTS, 'client-area-calls.png'), fullPage: true });
  await Promise.all([page.waitForURL(/cursor=/), page.click('#ictvoip-next')]);
  expect(await page.locator('#ictvoip-calls tbody tr').count()).toBe(2);
  expect(await page.locator('#ictvoip-calls').innerText()).toContain('not billable');
  await finish(visit, 'client-area-calls-page-2');

  const search = await open(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${PERIOD}`);
  await search.page.fill('#ictvoip-number', '4930');
  await Promise.all([search.page.waitForURL(/number=4930/), search.page.click('#ictvoip-calls-filter button[type=submit]')]);
  expect(await search.page.locator('#ictvoip-calls tbody tr').count()).toBe(2);
  expect(await search.page.locator('#ictvoip-calls').innerText()).toContain('+4930123456');
  const [download] = await Promise.all([search.page.waitForEvent('download'), search.page.click('#ictvoip-csv')]);
  expect(download.suggestedFilename()).toBe(`calls-pages-tenant.pbx.example.net-${PERIOD}.csv`);
  const csv = readFileSync((await download.path())!, 'utf8').trimEnd().split('\r\n');
  expect(csv).toHaveLength(3);
  expect(csv[0]).toMatch(/^uuid,startStamp/);
  await finish(search, 'client-area-search');
});

test('client area: usage against included minutes, credit, voicemail, numbers; reset a phone\'s SIP password, shown once', async () => {
  await pages.bridge.startWorker({ schedulers: false });
  try {
    const visit = await open(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&period=${PERIOD}`);
    const { page } = visit;
    expect(await page.locator('#ictvoip-usage').innerText()).toContain('100 minutes left');
    expect(await page.locator('#ictvoip-included').count()).toBe(1);
    expect(await page.locator('#ictvoip-credit').innerText()).toContain('Credit is running low');
    expect(await page.locator('#ictvoip-credit-thresholds').innerText()).toBe('Reminder when available credit falls below: 5.00 EUR');
    expect(await page.locator('#ictvoip-numbers tbody tr').first().innerText()).toContain('extension 100');
    expect(await page.locator('#ictvoip-phones tbody tr').first().locator('.ictvoip-voicemail').innerText()).toBe('2 new, 1 saved');
    expect(await page.locator('#ictvoip-period-total').innerText()).toContain('0.167 EUR');
    await page.screenshot({ path: path.join(ARTIFACTS, 'client-area-overview.png'), fullPage: true });
    await Promise.all([page.waitForURL(/a=resetSipPassword/), page.locator('#ictvoip-phones tbody tr').first().locator('.ictvoip-reset-form button').click()]);
    const password = await page.locator('#ictvoip-new-password').innerText();
    expect(password).toHaveLength(20);
    const { rows } = await pages.bridge.fusion.query("select e.password from v_extensions e join v_domains d using (domain_uuid) where d.domain_name = $1 and e.extension = '100'", [DOMAIN]);
    expect(rows[0].password).toBe(password);
    await finish(visit, 'client-area-reset-password');
    // Shown once: opening the button again offers a choice, never the password.
    const again = await open(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}&modop=custom&a=resetSipPassword`);
    expect(await again.page.locator('#ictvoip-reset-choose option').count()).toBe(2);
    expect(await again.page.content()).not.toContain(password);
    await finish(again, 'client-area-reset-choose');
  } finally {
    await pages.bridge.worker?.close();
    pages.bridge.worker = null;
  }
});

test("client area of a quarterly service: the picker offers its own periods (due on the 15th), a chosen quarter shows its first and last day", async () => {
  const visit = await open(`${pages.phpUrl}/clientarea.php?action=productdetails&id=${CYCLE_SERVICE_ID}`);
  const { page } = visit;
  const options = await page.locator('#ictvoip-period option').allTextContents();
  expect(options).toHaveLength(12);
  expect(options.filter((label) => !isQuarterStart(label))).toEqual([]);
  await page.selectOption('#ictvoip-period', EARLIER_QUARTER.start);
  await Promise.all([page.waitForURL(new RegExp(`period=${EARLIER_QUARTER.start}`)), page.click('#ictvoip-calls-filter button[type=submit]')]);
  expect(await page.locator('#ictvoip-period').inputValue()).toBe(EARLIER_QUARTER.start);
  expect(await page.locator('#ictvoip-period-total').innerText()).toContain(`(${EARLIER_QUARTER.start} – ${EARLIER_QUARTER.lastDay})`);
  expect(await page.locator('#ictvoip-csv').getAttribute('href')).toContain(`period=${EARLIER_QUARTER.start}`);
  await finish(visit, 'client-area-quarterly');
});

test('client area when the bridge is down: a plain message, no error', async () => {
  await pages.withBridgeAt('http://127.0.0.1:1', async (phpUrl) => {
    const visit = await open(`${phpUrl}/clientarea.php?action=productdetails&id=${SERVICE_ID}`);
    expect(await visit.page.locator('.alert-info').first().innerText()).toContain('temporarily unavailable');
    await finish(visit, 'client-area-bridge-down');
  });
});

test('addon: dashboard with a failed job retried from its button', async () => {
  const failed = await failedMaintenanceJob(pages, 'browser-failing-job', 'event socket refused <img src=x onerror=window.__pwned=1>');
  try {
    const visit = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip`);
    const { page } = visit;
    expect(await page.locator('#ictvoip-queues tbody tr').count()).toBe(Object.values(QUEUE_NAMES).length);
    expect(await page.locator('#ictvoip-failed-jobs tbody tr').count()).toBe(1);
    await finish(visit, 'addon-dashboard');
    const retry = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip`);
    await Promise.all([retry.page.waitForNavigation(), retry.page.click('#ictvoip-failed-jobs .btn-retry')]);
    expect(await retry.page.locator('#ictvoip-notice').innerText()).toContain('queued again');
    expect(await retry.page.locator('#ictvoip-failed-jobs').count()).toBe(0);
    expect(await (await failed.queue.getJob('browser-failing-job'))!.getState()).toBe('waiting');
    await finish(retry, 'addon-dashboard-retried');
  } finally {
    await failed.close();
  }
});

test('addon: rate deck preview with errors by line, then import, then the deck shown', async () => {
  const visit = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=ratedecks`);
  const { page } = visit;
  await page.fill('#deck-name', 'browser-deck');
  await page.fill('#deck-currency', 'EUR');
  await page.fill('#deck-cc', '49');
  await page.fill('#deck-csv', 'prefix,destination,rate_per_minute\n4930,Berlin,0.0100\n49x,Broken,abc\n');
  await Promise.all([page.waitForNavigation(), page.click('#ictvoip-preview')]);
  expect(await page.locator('#ictvoip-deck-issues tr').count()).toBeGreaterThan(1);
  expect(await page.locator('#ictvoip-deck-issues').innerText()).toContain('3');
  await finish(visit, 'addon-rate-deck-preview-errors');

  const good = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=ratedecks`);
  await good.page.fill('#deck-name', 'browser-deck');
  await good.page.fill('#deck-currency', 'EUR');
  await good.page.fill('#deck-cc', '49');
  await good.page.fill('#deck-csv', 'prefix,destination,rate_per_minute\n4930,Berlin,0.0100\n49,Germany,0.0200\n');
  await Promise.all([good.page.waitForNavigation(), good.page.click('#ictvoip-preview')]);
  expect(await good.page.locator('#ictvoip-first-rates').innerText()).toContain('Berlin');
  // The file's rates, before any markup: said so, not a bare "per minute" beside the CLI's billed price.
  expect(await good.page.locator('#ictvoip-first-rates th').allInnerTexts()).toContain('Base per minute (as in the file, before markup)');
  await good.page.screenshot({ path: path.join(ARTIFACTS, 'addon-rate-deck-preview.png'), fullPage: true });
  await Promise.all([good.page.waitForNavigation(), good.page.click('#ictvoip-import')]);
  expect(await good.page.locator('#ictvoip-notice').innerText()).toContain('Deck browser-deck: revision 1, 2 rates stored.');
  // The markup set with `rates import --markup-percent 25`: the page shows what `rates show` shows, the billed price, and the base beside it.
  await pages.bridge.api!.deps.pool.query("UPDATE rate_decks SET markup_percent = 25 WHERE name = 'browser-deck'");
  await Promise.all([good.page.waitForNavigation(), good.page.click('#ictvoip-decks a')]);
  expect(await good.page.locator('#ictvoip-deck-entries tr').count()).toBe(3);
  const headers = await good.page.locator('#ictvoip-deck-entries th').allInnerTexts();
  expect(headers.slice(2, 6)).toEqual(['Billed per minute (with markup)', 'Billed connect fee', 'Base per minute', 'Base connect fee']);
  const berlin = good.page.locator('#ictvoip-deck-entries tr', { hasText: 'Berlin' });
  expect({ billed: await berlin.locator('.ictvoip-billed').innerText(), base: await berlin.locator('.ictvoip-base').innerText() }).toEqual({ billed: '0.012500', base: '0.010000' });
  expect(await good.page.locator('#ictvoip-deck-markup').innerText()).toContain("Billed = base + the deck's markup: 25 %, +0 EUR per minute, +0 EUR per call; the prices `ictvoip rates show` gives.");
  await finish(good, 'addon-rate-deck-shown');
});

test("addon: an ASTPP sheet (Increment 0, its own headers) uploaded as Excel's Unicode text imports with the page's Default increments and Column mapping; a refusal names the field, not the CLI", async () => {
  const visit = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=ratedecks`);
  const { page } = visit;
  const sheet = 'Dest Code\tDestination\tCharge\tIncrement\r\n44\tUnited Kingdom\t£0,0125\t0\r\n4420\tLondon\t0,0200 GBP\t0\r\n';
  const unicodeText = { name: 'astpp.txt', mimeType: 'text/plain', buffer: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(sheet, 'utf16le')]) };
  await page.fill('#deck-name', 'browser-astpp');
  await page.fill('#deck-currency', 'GBP');
  await page.fill('#deck-cc', '44');
  await page.setInputFiles('#deck-file', unicodeText);
  await Promise.all([page.waitForNavigation(), page.click('#ictvoip-preview')]);
  const refused = await page.locator('#ictvoip-deck-issues').innerText();
  expect(refused).toContain('enter prefix=<header>,rate=<header> in the Column mapping field');
  expect(refused).not.toContain('--map');
  await finish(visit, 'addon-rate-deck-mapping-refused');

  const again = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=ratedecks`);
  await again.page.fill('#deck-name', 'browser-astpp');
  await again.page.fill('#deck-currency', 'GBP');
  await again.page.fill('#deck-cc', '44');
  await again.page.fill('#deck-mapping', 'prefix=Dest Code,rate=Charge');
  await again.page.fill('#deck-increments', '0/0');
  await again.page.setInputFiles('#deck-file', unicodeText);
  await Promise.all([again.page.waitForNavigation(), again.page.click('#ictvoip-import')]);
  expect(await again.page.locator('#ictvoip-error').innerText()).toContain('body.defaultIncrements: defaultIncrements: "0/0": increments are at least 1 second');
  // The typed fields are kept for the next try.
  expect(await again.page.inputValue('#deck-mapping')).toBe('prefix=Dest Code,rate=Charge');
  await again.page.fill('#deck-increments', '1/1');
  await again.page.setInputFiles('#deck-file', unicodeText);
  await Promise.all([again.page.waitForNavigation(), again.page.click('#ictvoip-import')]);
  expect(await again.page.locator('#ictvoip-notice').innerText()).toContain('Deck browser-astpp: revision 1, 2 rates stored.');
  const { rows } = await pages.bridge.api!.deps.pool.query(
    "SELECT prefix, destination, rate_per_minute::text AS rate, initial_increment || '/' || subsequent_increment AS increments FROM rate_entries e JOIN rate_decks d USING (deck_id) WHERE d.name = 'browser-astpp' ORDER BY prefix",
  );
  expect(rows).toEqual([
    { prefix: '44', destination: 'United Kingdom', rate: '0.012500', increments: '1/1' },
    { prefix: '4420', destination: 'London', rate: '0.020000', increments: '1/1' },
  ]);
  // Saved with the deck and shown in its row: next month's sheet imports with both fields left empty.
  const row = again.page.locator('#ictvoip-decks tr', { hasText: 'browser-astpp' });
  expect(await row.locator('.ictvoip-saved-increments').innerText()).toBe('1/1');
  expect(await row.locator('.ictvoip-saved-mapping').innerText()).toBe('prefix=Dest Code,ratePerMinute=Charge');
  await finish(again, 'addon-rate-deck-unicode-text');
  const next = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=ratedecks`);
  await next.page.fill('#deck-name', 'browser-astpp');
  await next.page.fill('#deck-currency', 'GBP');
  await next.page.fill('#deck-cc', '44');
  await next.page.setInputFiles('#deck-file', unicodeText);
  await Promise.all([next.page.waitForNavigation(), next.page.click('#ictvoip-import')]);
  expect(await next.page.locator('#ictvoip-notice').innerText()).toContain('Deck browser-astpp: revision 2, 2 rates stored.');
  await finish(next, 'addon-rate-deck-saved-settings');
});

test("addon: a period's billing batches with the WHMCS invoice link; servers and registration alerts", async () => {
  const visit = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=batches`);
  await Promise.all([visit.page.waitForURL(new RegExp(`period=${OTHER_PERIOD}`)), visit.page.selectOption('#ictvoip-period', OTHER_PERIOD)]);
  expect(await visit.page.locator('#ictvoip-batches tbody tr').count()).toBe(2);
  expect(await visit.page.locator('#ictvoip-batches a.ictvoip-invoice').getAttribute('href')).toBe(`invoices.php?action=edit&id=${INVOICE_ID}`);
  await finish(visit, 'addon-batches');
  const servers = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=servers`);
  expect(await servers.page.locator('#ictvoip-servers tr').count()).toBe(2);
  expect(await servers.page.locator('#ictvoip-lost').innerText()).toContain('101');
  await finish(servers, 'addon-servers');
  const credit = await open(`${pages.phpUrl}/admin/addonmodules.php?module=ictvoip&page=credit`);
  expect(await credit.page.locator('#ictvoip-credit tbody tr').count()).toBe(1);
  expect(await credit.page.locator('#ictvoip-credit tbody tr').innerText()).toContain('block outbound');
  expect(await credit.page.locator('#ictvoip-credit tbody tr').innerText()).toMatch(/5\.000000 EUR\s+prepaid/);
  await finish(credit, 'addon-credit');
});
