/** The WHMCS API client against the WHMCS stand-in (real HTTP over loopback). */
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { startWhmcsStandin, type WhmcsStandin, type WhmcsStandinOptions } from '@ictvoip/testkit';
import { encodeWhmcsForm, phpSerializeStringMap, WhmcsApiClient, WhmcsApiError, WhmcsInputError, WhmcsTransportError, type WhmcsApiClientOptions } from '@ictvoip/whmcs';

const SECRET = 'S3cr3t-api-secret-value-9f8e7d';
const ACCESS_KEY = 'acc3ss-key-[x]';
const standins: WhmcsStandin[] = [];
const errorsSeen: unknown[] = [];
const logLines: string[] = [];

async function standin(options: WhmcsStandinOptions = {}): Promise<WhmcsStandin> {
  const started = await startWhmcsStandin({ identifier: 'bridge-id', secret: SECRET, ...options });
  standins.push(started);
  return started;
}

function client(target: WhmcsStandin, options: Partial<WhmcsApiClientOptions> = {}): WhmcsApiClient {
  return new WhmcsApiClient({
    url: target.url,
    identifier: target.identifier,
    secret: target.secret,
    retryDelayMs: 5,
    logger: {
      debug: (fields, message) => logLines.push(JSON.stringify({ fields, message })),
      warn: (fields, message) => logLines.push(JSON.stringify({ fields, message })),
    },
    ...options,
  });
}

/** Awaits a rejection, keeps the error for the "no secret anywhere" check, and returns it typed. */
async function failure<E>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (caught: unknown) => caught,
  );
  errorsSeen.push(error);
  expect(error).toBeInstanceOf(type);
  return error as E;
}

afterAll(async () => {
  await Promise.all(standins.map((target) => target.close()));
});

describe('form encoding', () => {
  test('PHP bracket arrays, booleans PHP reads correctly, empty fields left out', () => {
    const body = new URLSearchParams(encodeWhmcsForm({ serviceids: [4, 5], item: { a: 'x y' }, stats: false, send: true, skip: undefined }));
    expect([...body.entries()]).toEqual([
      ['serviceids[0]', '4'],
      ['serviceids[1]', '5'],
      ['item[a]', 'x y'],
      ['stats', '0'],
      ['send', '1'],
    ]);
  });

  test('PHP serialize counts bytes, not characters', () => {
    expect(phpSerializeStringMap({ 12: 'Zürich', name: 'a"b' })).toBe('a:2:{i:12;s:7:"Zürich";s:4:"name";s:3:"a"b";}');
  });
});

describe('happy path', () => {
  test('WhmcsDetails, GetClientsProducts and GetClientsDetails come back typed', async () => {
    const target = await standin();
    const owner = target.addClient({ firstname: 'Ada', lastname: 'Lovelace', email: 'ada@acme.test', currency_code: 'EUR' });
    const service = target.addService({ clientid: owner.id, domain: 'acme.pbx.test', recurringamount: '19.90', customfields: [{ id: 0, name: 'Tenant UUID', value: 'u-1' }] });
    const api = client(target);

    expect(await api.whmcsDetails()).toEqual({ version: '8.13.1', fullVersion: '8.13.1-release.1' });
    const products = await api.getClientsProducts({ clientId: owner.id });
    expect(products.totalResults).toBe(1);
    expect(products.items[0]).toMatchObject({
      id: service.id,
      clientId: owner.id,
      domain: 'acme.pbx.test',
      status: 'Active',
      recurringAmount: '19.90',
      customFields: { 'Tenant UUID': 'u-1' },
    });
    // The decrypted service password WHMCS returns is never passed on.
    expect(JSON.stringify(products)).not.toContain(service.password);
    expect(await api.getService(service.id + 100)).toBeNull();
    expect(await api.getClientsDetails(owner.id)).toMatchObject({ id: owner.id, email: 'ada@acme.test', firstName: 'Ada', currencyCode: 'EUR' });
    expect(target.state.requests[0].params).not.toHaveProperty('secret');
  });

  test('AddBillableItem sends unit+quantity on 8.2+, and the token is found on the invoice afterwards', async () => {
    const target = await standin();
    const owner = target.addClient();
    const api = client(target);
    const description = 'Calls 2025-01: 1,234 min outbound [U-svc7-202501-out]';

    const { billableId } = await api.addBillableItem({ clientId: owner.id, description, amount: '12.34', invoiceAction: 'nextinvoice' });
    expect(target.state.billableItems).toEqual([expect.objectContaining({ id: billableId, amount: '12.34', unit: 'quantity', quantity: '1', description })]);

    expect(await api.findBilledItem(owner.id, '[U-svc7-202501-out]')).toBeNull();
    const invoice = target.invoiceBillableItems(owner.id);
    const found = await api.findBilledItem(owner.id, '[U-svc7-202501-out]');
    expect(found).toEqual({ invoiceId: invoice?.id, itemId: invoice?.items[0].id, description, amount: '12.34' });
    const full = await api.getInvoice(invoice?.id ?? 0);
    expect(full).toMatchObject({ userId: owner.id, total: '12.34', status: 'Unpaid' });
    const list = await api.getInvoices({ userId: owner.id });
    expect(list.items.map((row) => row.id)).toEqual([invoice?.id]);
  });

  test('AddBillableItem sends hours on WHMCS before 8.2 (detected once)', async () => {
    const target = await standin({ version: '8.1.3' });
    const owner = target.addClient();
    const api = client(target);
    await api.addBillableItem({ clientId: owner.id, description: 'usage', amount: '5.00', invoiceAction: 'noinvoice' });
    await api.addBillableItem({ clientId: owner.id, description: 'usage 2', amount: '6.00', invoiceAction: 'noinvoice' });
    expect(target.state.billableItems.map((item) => [item.unit, item.quantity])).toEqual([
      ['hours', '1'],
      ['hours', '1'],
    ]);
    expect(target.state.requests.filter((request) => request.action === 'WhmcsDetails')).toHaveLength(1);
  });

  test('ModuleSuspend twice ends suspended, ModuleUnsuspend, LogActivity and UpdateClientProduct custom fields', async () => {
    const target = await standin();
    const owner = target.addClient();
    const service = target.addService({ clientid: owner.id, customfields: [{ id: 0, name: 'PBX Domain', value: '' }] });
    const api = client(target);

    await api.moduleSuspend(service.id, 'Usage limit exceeded');
    await api.moduleSuspend(service.id, 'Usage limit exceeded');
    expect(target.state.services.get(service.id)).toMatchObject({ status: 'Suspended', suspendreason: 'Usage limit exceeded' });
    await api.moduleUnsuspend(service.id);
    expect(target.state.services.get(service.id)?.status).toBe('Active');

    await api.logActivity('ictVoIP pushed 12.34 for 2025-01', owner.id);
    expect(target.state.activity).toEqual([{ clientid: owner.id, description: 'ictVoIP pushed 12.34 for 2025-01' }]);

    const fieldId = (await api.getService(service.id))?.customFieldIds['PBX Domain'] ?? 0;
    await api.updateClientProduct(service.id, { customFields: { [fieldId]: 'zürich.pbx.test' }, notes: 'synced' });
    expect((await api.getService(service.id))?.customFields['PBX Domain']).toBe('zürich.pbx.test');
  });
});

describe('refusals (result: error)', () => {
  test('bad credentials: WHMCS_AUTH_REFUSED, not retried, secret not in the error', async () => {
    const target = await standin();
    const api = new WhmcsApiClient({ url: target.url, identifier: target.identifier, secret: `${SECRET}-wrong`, retryDelayMs: 5 });
    const error = await failure(api.getClientsProducts({ clientId: 1 }), WhmcsApiError);
    expect(error).toMatchObject({ code: 'WHMCS_AUTH_REFUSED', kind: 'auth', action: 'GetClientsProducts', mayHaveTakenEffect: false });
    expect(error.message).not.toContain(SECRET);
  });

  test('IP restriction without the access key, and with it', async () => {
    const target = await standin({ accessKey: ACCESS_KEY });
    const refused = await failure(client(target).whmcsDetails(), WhmcsApiError);
    expect(refused).toMatchObject({ code: 'WHMCS_AUTH_REFUSED', kind: 'ip' });
    await expect(client(target, { accessKey: ACCESS_KEY }).whmcsDetails()).resolves.toMatchObject({ version: '8.13.1' });
  });

  test('an API role without the action: kind permission', async () => {
    const target = await standin({ allowedActions: ['WhmcsDetails'] });
    const error = await failure(client(target).getInvoices({ userId: 1 }), WhmcsApiError);
    expect(error).toMatchObject({ code: 'WHMCS_AUTH_REFUSED', kind: 'permission' });
  });

  test("unknown client and unknown action are typed refusals carrying WHMCS's text", async () => {
    const target = await standin();
    const api = client(target);
    const missing = await failure(api.addBillableItem({ clientId: 999, description: 'x', amount: '1.00', invoiceAction: 'nextcron' }), WhmcsApiError);
    expect(missing).toMatchObject({ code: 'WHMCS_NOT_FOUND', whmcsMessage: 'Client ID not Found' });
    const unknown = await failure(api.call('NoSuchAction'), WhmcsApiError);
    expect(unknown).toMatchObject({ code: 'WHMCS_REJECTED', whmcsMessage: 'Command Not Found' });
  });

  test('injected result:error is a definite refusal and is not retried', async () => {
    const target = await standin({ faults: [{ mode: 'result_error', percent: 100 }] });
    const owner = target.addClient();
    const error = await failure(client(target).getClientsDetails(owner.id), WhmcsApiError);
    expect(error.mayHaveTakenEffect).toBe(false);
    expect(target.state.requests).toHaveLength(1);
  });

  test('bad input is refused by field before anything is sent', async () => {
    const target = await standin();
    const owner = target.addClient();
    const api = client(target);
    for (const amount of ['12.345', '1e3', '', ' 5.00']) {
      const error = await failure(api.addBillableItem({ clientId: owner.id, description: 'x', amount, invoiceAction: 'nextcron' }), WhmcsInputError);
      expect(error).toMatchObject({ code: 'WHMCS_INPUT_INVALID', field: 'amount' });
    }
    const due = await failure(api.addBillableItem({ clientId: owner.id, description: 'x', amount: '1.00', invoiceAction: 'duedate' }), WhmcsInputError);
    expect(due.field).toBe('dueDate');
    expect(target.state.requests).toHaveLength(0);
    expect(target.state.billableItems).toHaveLength(0);
  });
});

describe('transport failures', () => {
  test('HTTP 500 on a write: outcome unknown, not retried', async () => {
    const target = await standin({ faults: [{ mode: 'http_500', percent: 100, actions: ['AddBillableItem'] }] });
    const owner = target.addClient();
    const error = await failure(client(target).addBillableItem({ clientId: owner.id, description: 'x', amount: '1.00', invoiceAction: 'nextcron' }), WhmcsTransportError);
    expect(error).toMatchObject({ code: 'WHMCS_TRANSPORT', reason: 'http_status', httpStatus: 500, mayHaveTakenEffect: true });
    expect(target.state.requests.filter((request) => request.action === 'AddBillableItem')).toHaveLength(1);
  });

  test('HTTP 500 on reads is retried; with seeded 50% failures the read still succeeds', async () => {
    const target = await standin({ seed: 7, faults: [{ mode: 'http_500', percent: 50 }] });
    const owner = target.addClient();
    const api = client(target, { retries: 10 });
    for (let round = 0; round < 5; round += 1) await expect(api.getClientsDetails(owner.id)).resolves.toMatchObject({ id: owner.id });
    const faults = target.state.requests.filter((request) => request.fault !== null).length;
    expect(target.state.requests).toHaveLength(5 + faults);
    expect(faults).toBeGreaterThan(0);
  });

  test('the same seed injects the same faults in the same order', async () => {
    const sequences: (string | null)[][] = [];
    for (let run = 0; run < 2; run += 1) {
      const target = await standin({ seed: 42, faults: [{ mode: 'result_error', percent: 30 }] });
      const api = client(target);
      for (let call = 0; call < 12; call += 1) await api.call('WhmcsDetails').catch(() => undefined);
      sequences.push(target.state.requests.map((request) => request.fault));
    }
    expect(sequences[0]).toEqual(sequences[1]);
    expect(sequences[0]).toContain('result_error');
    expect(sequences[0]).toContain(null);
  });

  test('timeout after the write took effect: classified "may have taken effect"; reconciliation finds it', async () => {
    const target = await standin({ faults: [{ mode: 'timeout_after_effect', percent: 100, actions: ['AddBillableItem'] }] });
    const owner = target.addClient();
    const api = client(target, { timeoutMs: 300 });
    const token = '[U-svc9-202502-out]';
    const error = await failure(api.addBillableItem({ clientId: owner.id, description: `Calls ${token}`, amount: '3.10', invoiceAction: 'nextinvoice' }), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'timeout', mayHaveTakenEffect: true });
    expect(target.state.billableItems).toHaveLength(1);
    expect(target.state.requests.filter((request) => request.action === 'AddBillableItem')).toHaveLength(1);
    target.invoiceBillableItems(owner.id);
    expect(await api.findBilledItem(owner.id, token)).toMatchObject({ amount: '3.10' });
  });

  test('a PHP notice before the JSON: invalid_response, may have taken effect', async () => {
    const target = await standin({ faults: [{ mode: 'invalid_json', percent: 100, actions: ['LogActivity'] }] });
    const error = await failure(client(target).logActivity('x'), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'invalid_response', mayHaveTakenEffect: true });
    expect(target.state.activity).toHaveLength(1);
  });

  test('connection refused: not delivered, so even a write is retried, then reported', async () => {
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const api = new WhmcsApiClient({ url: `http://127.0.0.1:${port}/`, identifier: 'id', secret: SECRET, retries: 1, retryDelayMs: 5, whmcsVersion: '8.13' });
    expect(api.endpoint).toBe(`http://127.0.0.1:${port}/includes/api.php`);
    const error = await failure(api.addBillableItem({ clientId: 1, description: 'x', amount: '1.00', invoiceAction: 'nextcron' }), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'connect', mayHaveTakenEffect: false });
  });

  test("the caller's AbortSignal cancels a hanging call", async () => {
    const target = await standin({ faults: [{ mode: 'timeout_after_effect', percent: 100 }] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(client(target).call('LogActivity', { description: 'x' }, { signal: controller.signal }), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'aborted', mayHaveTakenEffect: true });
  });
});

describe('secrets', () => {
  test('no error and no log line carries the API secret or access key', () => {
    expect(errorsSeen.length).toBeGreaterThan(10);
    for (const error of errorsSeen) {
      const rendered = [String(error), (error as Error).stack ?? '', JSON.stringify(error), inspect(error, { depth: 10, showHidden: true })].join('\n');
      expect(rendered).not.toContain(SECRET);
      expect(rendered).not.toContain(ACCESS_KEY);
    }
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line).not.toContain(SECRET);
  });
});
