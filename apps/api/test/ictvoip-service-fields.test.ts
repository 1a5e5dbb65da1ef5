import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBridge, type Bridge } from '../../worker/test/harness';

// ictVoIP's service fields (clientadmin/clientadmin.rst) as a migrating operator's WHMCS holds them,
// sent to the real webhook as dry runs: what the bridge would write, or the 400 naming the field.
type Row = { table: string; op: string; columns: Record<string, string | null> };
type Detail = { path: string; message: string };

let bridge: Bridge;
beforeAll(async () => {
  bridge = await startBridge();
  await bridge.startApi();
});
afterAll(() => bridge.close());

async function preview(service: Record<string, unknown>, plan: Record<string, unknown> = {}) {
  const event = buildEvent({});
  const body = { ...event, service: { ...(event.service as object), ...service }, plan: { ...(event.plan as object), ...plan } };
  return postWebhook(bridge.url, JSON.stringify(body), { query: '?dryRun=1' });
}
const inserted = (body: Record<string, unknown>, table: string) => (body.rows as Row[]).filter((row) => row.table === table && row.op === 'insert');
const extensionsOf = (body: Record<string, unknown>) => inserted(body, 'v_extensions').map((row) => row.columns.extension);
const callerIdsOf = (body: Record<string, unknown>) => [...new Set(inserted(body, 'v_extensions').map((row) => row.columns.outbound_caller_id_number))];
const detailsOf = (body: Record<string, unknown>) => (body.error as { details: Detail[] }).details;

describe('empty parts of an ictVoIP field (a trailing or doubled |) are ignored, like the spaces around |', () => {
  it.each([
    ['a trailing |', 'empty1.example.ca |'],
    ['a trailing | without spaces', 'empty2.example.ca|'],
    ['several trailing |', 'empty3.example.ca | |'],
  ])('Domain field with %s: the tenant domain, no DID', async (_name, domain) => {
    const reply = await preview({ domain });
    expect(reply.status).toBe(200);
    expect(reply.body.domainName).toBe(domain.split('|')[0]!.trim());
    expect(callerIdsOf(reply.body).filter((id) => id !== undefined && id !== null)).toEqual([]);
  });

  it('Domain field with a doubled |: the DID after it is the main DID', async () => {
    const reply = await preview({ domain: 'empty4.example.ca | | 2125551234' });
    expect(reply.status).toBe(200);
    expect(reply.body.domainName).toBe('empty4.example.ca');
    expect(callerIdsOf(reply.body)).toEqual([expect.stringContaining('2125551234')]);
    // The same preview again reads the same.
    const again = await preview({ domain: 'empty4.example.ca | | 2125551234' });
    expect(callerIdsOf(again.body)).toEqual(callerIdsOf(reply.body));
  });

  it.each([
    ['a trailing |', '2112 | 2113 |'],
    ['a doubled |', '2112 || 2113'],
    ['a leading |', '| 2112 | 2113'],
  ])('extension list with %s: the numbers listed', async (_name, extensionNumbers) => {
    const reply = await preview({ domain: 'ext.example.ca' }, { extensionNumbers, maxExtensions: 2 });
    expect(reply.status).toBe(200);
    expect(extensionsOf(reply.body)).toEqual(['2112', '2113']);
  });
});

describe('genuinely bad parts are still refused, naming the field', () => {
  it.each([
    ['no domain before the DID', { domain: '| 2125551234' }, {}, 'service.domain', /tenant domain/],
    ['a part that is not a DID', { domain: 'bad1.example.ca | | 51x' }, {}, 'service.domain', /part 3 must be a DID/],
    ['an extension list of only |', { domain: 'bad2.example.ca' }, { extensionNumbers: ' | | ' }, 'plan.extensionNumbers', /./],
    ['a word in the extension list', { domain: 'bad3.example.ca' }, { extensionNumbers: '2112 | | abc |' }, 'plan.extensionNumbers', /part 3 must be an extension number/],
  ])('%s → 400', async (_name, service, plan, path, message) => {
    const reply = await preview(service, plan);
    expect(reply.status).toBe(400);
    expect(detailsOf(reply.body)).toEqual([expect.objectContaining({ path, message: expect.stringMatching(message) })]);
  });
});

// ictVoIP's Vodia product form (modules/vodia.rst, clientadmin.rst "Formatting to Vodia API"):
// "tenant | DID1 | DID2 | DID3", whose example ends in the extension 8300 billed by the Extension field.
// A FusionPBX product's Domain field is "<tenant domain> | <main DID>"; the Vodia form is refused, never
// read with its extension taken for a DID.
describe("ictVoIP's Vodia Domain field form", () => {
  it.each([
    ['the documented example', 'vodia1.example.ca | 5484815577 | 5197830020 | 8300'],
    ['two DIDs', 'vodia2.example.ca | 5484815577 | 5197830020'],
    ['two DIDs with an empty part between', 'vodia3.example.ca | 5484815577 | | 5197830020 |'],
  ])('%s → 400 naming service.domain and saying Vodia products are not supported', async (_name, domain) => {
    const reply = await preview({ domain });
    expect(reply.status).toBe(400);
    expect(detailsOf(reply.body)).toEqual([expect.objectContaining({ path: 'service.domain', message: expect.stringMatching(/Vodia.*not supported/) })]);
    // The same event again is refused the same way (nothing was stored by the first).
    expect((await preview({ domain })).status).toBe(400);
  });

  it('the FusionPBX form with one DID, written twice, is still one main DID', async () => {
    const reply = await preview({ domain: 'fpbx.example.ca | 5484815577 | 548-481-5577' });
    expect(reply.status).toBe(200);
    expect(callerIdsOf(reply.body)).toEqual([expect.stringContaining('5484815577')]);
  });
});
