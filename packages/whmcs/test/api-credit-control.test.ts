/**
 * The WHMCS API actions behind credit control and service billing cycles (#16) against the WHMCS
 * stand-in over real HTTP: client credit, service cycle fields, suspend with a reason, SendEmail with
 * custom variables, CreateInvoice (token in the notes) and ApplyCredit.
 */
import { inspect } from 'node:util';
import { startWhmcsStandin, type WhmcsStandin, type WhmcsStandinOptions } from '@ictvoip/testkit';
import { phpSerializeStringMap, WhmcsApiClient, WhmcsApiError, WhmcsInputError, WhmcsTransportError } from '@ictvoip/whmcs';

const IDENTIFIER = 'Id3nt-credit-control-4d2c';
const SECRET = 'S3cr3t-credit-control-secret-77aa';
const standins: WhmcsStandin[] = [];
const errorsSeen: unknown[] = [];

async function standin(options: WhmcsStandinOptions = {}): Promise<WhmcsStandin> {
  const started = await startWhmcsStandin({ identifier: IDENTIFIER, secret: SECRET, ...options });
  standins.push(started);
  return started;
}

function client(target: WhmcsStandin, secret = target.secret): WhmcsApiClient {
  return new WhmcsApiClient({ url: target.url, identifier: target.identifier, secret, retryDelayMs: 5, timeoutMs: 2000 });
}

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

describe('GetClientsDetails: credit', () => {
  test.each([
    ['12.345678', '12.345678'],
    ['-0.01', '-0.01'],
    ['0.00', '0.00'],
    ['100000000000.10', '100000000000.10'],
  ])('credit %s is read exactly as %s, with the currency', async (stored, expected) => {
    const target = await standin();
    const owner = target.addClient({ credit: stored, currency_code: 'EUR' });
    const api = client(target);
    expect(await api.getClientCredit(owner.id)).toEqual({ clientId: owner.id, credit: expected, currencyCode: 'EUR' });
    expect((await api.getClientsDetails(owner.id)).credit).toBe(expected);
  });

  test('unknown client: typed refusal', async () => {
    const target = await standin();
    const error = await failure(client(target).getClientCredit(404), WhmcsApiError);
    expect(error).toMatchObject({ code: 'WHMCS_NOT_FOUND', whmcsMessage: 'Client Not Found', mayHaveTakenEffect: false });
  });

  test('a malformed reply (credit "N/A") is a typed error, not "0.00"', async () => {
    const target = await standin({ faults: [{ mode: 'malformed_reply', percent: 100, actions: ['GetClientsDetails'] }] });
    const owner = target.addClient({ credit: '5.00' });
    const error = await failure(client(target).getClientCredit(owner.id), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'invalid_response', action: 'GetClientsDetails' });
  });
});

describe('GetClientsProducts: billing cycle fields', () => {
  test('billingcycle, regdate, nextduedate (ISO), status and recurringamount', async () => {
    const target = await standin();
    const owner = target.addClient();
    const monthly = target.addService({ clientid: owner.id, billingcycle: 'Monthly', regdate: '2025-01-15', nextduedate: '2025-03-15', recurringamount: '19.99' });
    const free = target.addService({ clientid: owner.id, billingcycle: 'Free Account', nextduedate: '0000-00-00', recurringamount: '0.00', status: 'Suspended' });
    const api = client(target);
    expect(await api.getService(monthly.id)).toMatchObject({
      billingCycle: 'Monthly',
      regDate: '2025-01-15',
      nextDueDate: '2025-03-15',
      status: 'Active',
      recurringAmount: '19.99',
    });
    expect(await api.getService(free.id)).toMatchObject({ billingCycle: 'Free Account', nextDueDate: '', status: 'Suspended', recurringAmount: '0.00' });
  });

  test('a malformed reply does not crash: the rows come back with empty dates', async () => {
    const target = await standin({ faults: [{ mode: 'malformed_reply', percent: 100, actions: ['GetClientsProducts'] }] });
    const owner = target.addClient();
    target.addService({ clientid: owner.id });
    const { items } = await client(target).getClientsProducts({ clientId: owner.id });
    expect(items[0]).toMatchObject({ id: 0, regDate: '', nextDueDate: '', recurringAmount: '0.00' });
  });
});

describe('ModuleSuspend / ModuleUnsuspend', () => {
  test('suspend with a reason, unsuspend; the documented accountid is sent', async () => {
    const target = await standin();
    const owner = target.addClient();
    const service = target.addService({ clientid: owner.id });
    const api = client(target);
    await api.moduleSuspend(service.id, 'Credit limit reached');
    expect(target.state.services.get(service.id)).toMatchObject({ status: 'Suspended', suspendreason: 'Credit limit reached' });
    expect(target.state.requests.at(-1)?.params).toMatchObject({ accountid: String(service.id), suspendreason: 'Credit limit reached' });
    expect(await api.getService(service.id)).toMatchObject({ status: 'Suspended', suspensionReason: 'Credit limit reached' });
    await api.moduleUnsuspend(service.id);
    expect(target.state.services.get(service.id)).toMatchObject({ status: 'Active', suspendreason: '' });
    expect(await api.getService(service.id)).toMatchObject({ status: 'Active', suspensionReason: '' });
    expect(target.state.requests.filter((request) => request.action === 'ModuleUnsuspend').at(-1)?.params).toMatchObject({ accountid: String(service.id) });
  });

  test('unknown service: typed refusal; bad id refused before sending', async () => {
    const target = await standin();
    const api = client(target);
    expect(await failure(api.moduleSuspend(999, 'x'), WhmcsApiError)).toMatchObject({ code: 'WHMCS_NOT_FOUND' });
    expect(await failure(api.moduleUnsuspend(0), WhmcsInputError)).toMatchObject({ field: 'serviceId' });
    expect(target.state.requests).toHaveLength(1);
  });
});

describe('SendEmail', () => {
  test('a product template with custom variables (base64 PHP-serialized) reaches the service owner', async () => {
    const target = await standin();
    const owner = target.addClient();
    const service = target.addService({ clientid: owner.id });
    await client(target).sendEmail({ templateName: 'Service Suspension Notification', relatedId: service.id, customVars: { credit: '-0.01', limit: 'Zürich €5' } });
    expect(target.state.emails).toEqual([
      { messagename: 'Service Suspension Notification', type: 'product', id: service.id, clientid: owner.id, customvars: { credit: '-0.01', limit: 'Zürich €5' } },
    ]);
    const sent = target.state.requests.at(-1)?.params.customvars ?? '';
    expect(Buffer.from(sent, 'base64').toString('utf8')).toBe(phpSerializeStringMap({ credit: '-0.01', limit: 'Zürich €5' }));
  });

  test("unknown template, bad related id and WHMCS's refusal of bad custom variables are typed refusals", async () => {
    const target = await standin();
    const owner = target.addClient();
    const api = client(target);
    expect(await failure(api.sendEmail({ templateName: 'No Such Template', relatedId: owner.id }), WhmcsApiError)).toMatchObject({
      whmcsMessage: 'Email Template not found',
    });
    expect(await failure(api.sendEmail({ templateName: 'Client Signup Email', relatedId: 999 }), WhmcsApiError)).toMatchObject({
      whmcsMessage: 'Sending Failed. Please see documentation.',
    });
    expect(await failure(api.call('SendEmail', { messagename: 'Client Signup Email', id: owner.id, customvars: 'bm90IHNlcmlhbGl6ZWQ=' }), WhmcsApiError)).toMatchObject({
      whmcsMessage: 'The custom variables you provided are invalid.',
    });
    expect(await failure(api.sendEmail({ templateName: ' ', relatedId: owner.id }), WhmcsInputError)).toMatchObject({ field: 'templateName' });
    expect(target.state.emails).toHaveLength(0);
  });

  test('an injected HTTP 500 on SendEmail: outcome unknown, not retried', async () => {
    const target = await standin({ faults: [{ mode: 'http_500', percent: 100, actions: ['SendEmail'] }] });
    const owner = target.addClient();
    const error = await failure(client(target).sendEmail({ templateName: 'Client Signup Email', relatedId: owner.id }), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'http_status', mayHaveTakenEffect: true });
    expect(target.state.requests).toHaveLength(1);
  });
});

describe('SendAdminEmail', () => {
  test('an admin template with merge fields as a form array (mergefields[name]=value) and the notification type', async () => {
    const target = await standin();
    await client(target).sendAdminEmail({ templateName: 'Service Unsuspension Successful', type: 'account', mergeFields: { client_id: '7', extension_address: '101@a.example' } });
    expect(target.state.adminEmails).toEqual([
      { messagename: 'Service Unsuspension Successful', customsubject: '', type: 'account', deptid: null, mergefields: { client_id: '7', extension_address: '101@a.example' } },
    ]);
    const params = target.state.requests.at(-1)!.params;
    expect(params).toMatchObject({ action: 'SendAdminEmail', 'mergefields[client_id]': '7', 'mergefields[extension_address]': '101@a.example', type: 'account' });
    expect(params.customvars).toBeUndefined();
  });

  test('unknown template: typed refusal; neither template nor message: refused before sending', async () => {
    const target = await standin();
    const api = client(target);
    expect(await failure(api.sendAdminEmail({ templateName: 'No Such Admin Template' }), WhmcsApiError)).toMatchObject({ whmcsMessage: 'Email Template not found' });
    expect(await failure(api.sendAdminEmail({ templateName: ' ' }), WhmcsInputError)).toMatchObject({ field: 'templateName' });
    expect(target.state.requests).toHaveLength(1);
    expect(target.state.adminEmails).toHaveLength(0);
  });

  test('an injected HTTP 500: outcome unknown, not retried (a write)', async () => {
    const target = await standin({ faults: [{ mode: 'http_500', percent: 100, actions: ['SendAdminEmail'] }] });
    const error = await failure(client(target).sendAdminEmail({ templateName: 'Automatic Setup Failed' }), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'http_status', mayHaveTakenEffect: true });
    expect(target.state.requests).toHaveLength(1);
  });
});

describe('CreateInvoice and ApplyCredit', () => {
  test('an invoice with the token in its notes, found again; credit applied in two steps pays it', async () => {
    const target = await standin();
    const owner = target.addClient({ credit: '30.00' });
    const api = client(target);
    const token = '[C-svc3-202502]';
    expect(await api.findInvoiceByToken(owner.id, token)).toBeNull();

    const created = await api.createInvoice({
      userId: owner.id,
      date: '2025-02-01',
      dueDate: '2025-02-08',
      notes: `Usage ${token}`,
      items: [
        { description: 'Calls 2025-01', amount: '12.34' },
        { description: 'DIDs 2025-01', amount: '0.66', taxed: true },
      ],
    });
    expect(created).toEqual({ invoiceId: expect.any(Number), status: 'Unpaid' });
    expect(await api.findInvoiceByToken(owner.id, token)).toMatchObject({ id: created.invoiceId, total: '13.00', notes: `Usage ${token}` });

    expect(await api.applyCredit({ invoiceId: created.invoiceId, amount: '3.01', noEmail: true })).toEqual({ invoiceId: created.invoiceId, amount: '3.01', invoicePaid: false });
    expect(await api.getInvoice(created.invoiceId)).toMatchObject({ subtotal: '13.00', credit: '3.01', balance: '9.99', status: 'Unpaid' });
    expect(await api.applyCredit({ invoiceId: created.invoiceId, amount: '9.99' })).toMatchObject({ amount: '9.99', invoicePaid: true });
    expect((await api.getClientCredit(owner.id)).credit).toBe('17.00');
    expect(await api.getInvoice(created.invoiceId)).toMatchObject({ status: 'Paid', balance: '0.00', credit: '13.00' });
  });

  test('autoApplyCredit lets WHMCS use the credit at creation', async () => {
    const target = await standin();
    const owner = target.addClient({ credit: '5.00' });
    const api = client(target);
    const created = await api.createInvoice({ userId: owner.id, items: [{ description: 'x', amount: '8.00' }], autoApplyCredit: true });
    expect(await api.getInvoice(created.invoiceId)).toMatchObject({ credit: '5.00', balance: '3.00' });
    expect((await api.getClientCredit(owner.id)).credit).toBe('0.00');
  });

  test("WHMCS's refusals: more than the credit, more than the balance, a paid invoice, an unknown client", async () => {
    const target = await standin();
    const owner = target.addClient({ credit: '2.00' });
    const api = client(target);
    const { invoiceId } = await api.createInvoice({ userId: owner.id, items: [{ description: 'x', amount: '1.50' }] });
    expect(await failure(api.applyCredit({ invoiceId, amount: '2.50' }), WhmcsApiError)).toMatchObject({ whmcsMessage: 'Amount exceeds customer credit balance' });
    expect(await failure(api.applyCredit({ invoiceId, amount: '1.51' }), WhmcsApiError)).toMatchObject({ whmcsMessage: 'Amount Exceeds Invoice Balance' });
    await api.applyCredit({ invoiceId, amount: '1.50' });
    expect(await failure(api.applyCredit({ invoiceId, amount: '0.10' }), WhmcsApiError)).toMatchObject({ whmcsMessage: 'Invoice Not in Unpaid Status' });
    expect(await failure(api.applyCredit({ invoiceId: 999, amount: '0.10' }), WhmcsApiError)).toMatchObject({ code: 'WHMCS_NOT_FOUND' });
    expect(await failure(api.createInvoice({ userId: 999, items: [{ description: 'x', amount: '1.00' }] }), WhmcsApiError)).toMatchObject({
      code: 'WHMCS_NOT_FOUND',
      whmcsMessage: 'Client ID Not Found',
    });
    expect((await api.getClientCredit(owner.id)).credit).toBe('0.50');
  });

  test('bad input is refused by field before anything is sent', async () => {
    const target = await standin();
    const api = client(target);
    for (const amount of ['0.00', '-1.00', '1.234', '1e2']) {
      expect(await failure(api.applyCredit({ invoiceId: 1, amount }), WhmcsInputError)).toMatchObject({ field: 'amount' });
    }
    expect(await failure(api.createInvoice({ userId: 1, items: [] }), WhmcsInputError)).toMatchObject({ field: 'items' });
    expect(await failure(api.createInvoice({ userId: 1, items: [{ description: 'x', amount: '0.001' }] }), WhmcsInputError)).toMatchObject({ field: 'items[0].amount' });
    expect(await failure(api.createInvoice({ userId: 1, dueDate: '08/02/2025', items: [{ description: 'x', amount: '1.00' }] }), WhmcsInputError)).toMatchObject({
      field: 'dueDate',
    });
    expect(await failure(api.createInvoice({ userId: 1, draft: true, sendInvoice: true, items: [{ description: 'x', amount: '1.00' }] }), WhmcsInputError)).toMatchObject({
      field: 'sendInvoice',
    });
    expect(target.state.requests).toHaveLength(0);
  });

  test('timeout after CreateInvoice took effect: outcome unknown, and the token finds the invoice (no second one)', async () => {
    const target = await standin({ faults: [{ mode: 'timeout_after_effect', percent: 100, actions: ['CreateInvoice'] }] });
    const owner = target.addClient();
    const api = new WhmcsApiClient({ url: target.url, identifier: target.identifier, secret: target.secret, timeoutMs: 300, retryDelayMs: 5 });
    const token = '[C-svc4-202502]';
    const error = await failure(api.createInvoice({ userId: owner.id, notes: token, items: [{ description: 'x', amount: '4.00' }] }), WhmcsTransportError);
    expect(error).toMatchObject({ reason: 'timeout', mayHaveTakenEffect: true });
    expect(target.state.invoices).toHaveLength(1);
    expect(await api.findInvoiceByToken(owner.id, token)).toMatchObject({ total: '4.00' });
  });

  test('malformed replies to CreateInvoice and ApplyCredit are typed "may have taken effect" errors', async () => {
    const target = await standin({ faults: [{ mode: 'malformed_reply', percent: 100, actions: ['CreateInvoice', 'ApplyCredit'] }] });
    const owner = target.addClient({ credit: '1.00' });
    const api = client(target);
    const created = await failure(api.createInvoice({ userId: owner.id, items: [{ description: 'x', amount: '2.00' }] }), WhmcsTransportError);
    expect(created).toMatchObject({ reason: 'invalid_response', mayHaveTakenEffect: true });
    const invoiceId = target.state.invoices[0].id;
    const applied = await failure(api.applyCredit({ invoiceId, amount: '1.00' }), WhmcsTransportError);
    expect(applied).toMatchObject({ reason: 'invalid_response', mayHaveTakenEffect: true });
    expect(target.state.clients.get(owner.id)?.credit).toBe('0.00');
  });
});

describe('secrets', () => {
  test('bad credentials on every new action: typed refusal without the identifier or secret', async () => {
    const target = await standin();
    const api = client(target, `${SECRET}-wrong`);
    const calls: Promise<unknown>[] = [
      api.getClientCredit(1),
      api.moduleSuspend(1, 'x'),
      api.moduleUnsuspend(1),
      api.sendEmail({ templateName: 'Client Signup Email', relatedId: 1 }),
      api.createInvoice({ userId: 1, items: [{ description: 'x', amount: '1.00' }] }),
      api.applyCredit({ invoiceId: 1, amount: '1.00' }),
    ];
    for (const call of calls) expect(await failure(call, WhmcsApiError)).toMatchObject({ code: 'WHMCS_AUTH_REFUSED' });
  });

  test('no error carries the API identifier or secret', () => {
    expect(errorsSeen.length).toBeGreaterThan(20);
    for (const error of errorsSeen) {
      const rendered = [String(error), (error as Error).stack ?? '', JSON.stringify(error), inspect(error, { depth: 10, showHidden: true })].join('\n');
      expect(rendered).not.toContain(SECRET);
      expect(rendered).not.toContain(IDENTIFIER);
    }
  });
});
