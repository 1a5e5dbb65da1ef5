/**
 * The WHMCS API client against replies shaped as WHMCS's own API reference documents them
 * (developers.whmcs.com api-reference, example JSON of each action), not as the stand-in writes
 * them: ids and amounts as strings, an empty collection as `{"customfield": []}`, GetClientsDetails
 * with the client only under `client`, `overideautosuspend` as "", ApplyCredit's `invoicepaid` as a
 * "true"/"false" string. A real HTTP server on loopback answers each action with that shape.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WhmcsApiClient } from '../src';

const REPLIES: Record<string, Record<string, unknown>> = {
  GetClientsProducts: {
    result: 'success',
    clientid: '7',
    serviceid: '41',
    pid: null,
    domain: null,
    totalresults: '1',
    startnumber: 0,
    numreturned: 1,
    products: {
      product: [
        {
          id: '41',
          qty: '1',
          clientid: '7',
          orderid: '3',
          ordernumber: '123456',
          pid: '2',
          regdate: '2026-01-15',
          name: 'Hosted PBX',
          translated_name: 'Hosted PBX',
          groupname: 'VoIP',
          domain: 'pbx.example.net',
          dedicatedip: '',
          serverid: '1',
          servername: 'pbx1',
          suspensionreason: 'VoIP zero balance',
          firstpaymentamount: '10.00',
          recurringamount: '10.00',
          paymentmethod: 'mailin',
          billingcycle: 'Quarterly',
          nextduedate: '2027-01-15',
          status: 'Suspended',
          username: 'pbx41',
          password: 'not-sent-to-logs',
          subscriptionid: '',
          promoid: '0',
          overideautosuspend: '',
          overidesuspenduntil: '0000-00-00',
          notes: '',
          customfields: { customfield: [] },
          configoptions: { configoption: [] },
        },
      ],
    },
  },
  GetClientsDetails: {
    result: 'success',
    client: {
      client_id: 7,
      userid: 7,
      id: 7,
      uuid: '0b5b0c2e-7d0e-4a57-9a37-2d7f1b0c9e11',
      firstname: 'Ada',
      lastname: 'Lovelace',
      companyname: '',
      email: 'ada@example.net',
      currency: 1,
      status: 'Active',
      credit: '12.50',
      currency_code: 'USD',
      customfields: [{ id: 5, value: '4.00' }],
      customfields1: '4.00',
    },
    stats: { creditbalance: '$12.50 USD' },
  },
  GetInvoice: {
    result: 'success',
    invoiceid: 88,
    invoicenum: '',
    userid: 7,
    date: '2026-12-05',
    duedate: '2026-12-05',
    datepaid: '0000-00-00 00:00:00',
    subtotal: '3.17',
    credit: '1.00',
    tax: '0.00',
    tax2: '0.00',
    total: '2.17',
    balance: '2.17',
    status: 'Unpaid',
    paymentmethod: 'mailin',
    notes: '[ictvoip:pp-41-2026-12-05]',
    ccgateway: false,
    items: { item: [{ id: 9, type: '', relid: 0, description: 'Prepaid calls 2026-12-05', amount: '3.17', taxed: 0 }] },
    transactions: '',
  },
  CreateInvoice: { result: 'success', invoiceid: '88', status: 'Unpaid' },
  ApplyCredit: { result: 'success', invoiceid: 88, amount: 2.17, invoicepaid: 'true' },
  SendEmail: { result: 'success' },
  ModuleSuspend: { result: 'success' },
  ModuleUnsuspend: { result: 'success' },
};

let server: Server;
let client: WhmcsApiClient;
const actions: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const action = new URLSearchParams(body).get('action') ?? '';
      actions.push(action);
      const reply = REPLIES[action] ?? { result: 'error', message: 'Command Not Found' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  client = new WhmcsApiClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/includes/api.php`, identifier: 'id', secret: 'secret', retries: 0 });
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

test('GetClientsProducts as documented: the service, its cycle, due date and suspension reason', async () => {
  expect(await client.getService(41)).toMatchObject({
    id: 41,
    clientId: 7,
    status: 'Suspended',
    billingCycle: 'Quarterly',
    nextDueDate: '2027-01-15',
    regDate: '2026-01-15',
    suspensionReason: 'VoIP zero balance',
    overrideAutoSuspend: false,
    customFields: {},
  });
});

test('GetClientsDetails as documented (client fields only under `client`): credit, currency, custom fields by id', async () => {
  expect(await client.getClientsDetails(7)).toMatchObject({ id: 7, credit: '12.50', currencyCode: 'USD', customFields: [{ id: 5, value: '4.00' }] });
  expect(await client.getClientCredit(7)).toEqual({ clientId: 7, credit: '12.50', currencyCode: 'USD' });
});

test('GetInvoice, CreateInvoice, ApplyCredit as documented: balance, ids as strings or numbers, invoicepaid as a string', async () => {
  expect(await client.getInvoice(88)).toMatchObject({ id: 88, userId: 7, status: 'Unpaid', credit: '1.00', total: '2.17', balance: '2.17' });
  expect(await client.createInvoice({ userId: 7, items: [{ description: 'Prepaid calls', amount: '3.17' }], notes: '[ictvoip:pp-41-2026-12-05]' })).toEqual({
    invoiceId: 88,
    status: 'Unpaid',
  });
  expect(await client.applyCredit({ invoiceId: 88, amount: '2.17', noEmail: true })).toMatchObject({ invoiceId: 88, invoicePaid: true });
});

test('SendEmail, ModuleSuspend, ModuleUnsuspend answer `result: success` only', async () => {
  await expect(client.sendEmail({ templateName: 'VoIP Zero Balance', relatedId: 41, customVars: { balance: '0.00' } })).resolves.toBeUndefined();
  await expect(client.moduleSuspend(41, 'VoIP zero balance')).resolves.toBeUndefined();
  await expect(client.moduleUnsuspend(41)).resolves.toBeUndefined();
  expect(actions).toEqual(expect.arrayContaining(['SendEmail', 'ModuleSuspend', 'ModuleUnsuspend']));
});
