import { randomUUID } from 'node:crypto';
import { buildDriftReport, WHMCS_PAGE_SIZE, type DriftItem } from '@ictvoip/operations';
import { ServicesRepository } from '@ictvoip/store';
import { startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { startBridge, type Bridge } from './harness';

// The drift check asks WHMCS about every service. 230 services of package 3 (pid stored with their
// plan) among 250 WHMCS services of that package; one moved to package 4, one gone from WHMCS, one
// suspended in WHMCS, one stored before packages were recorded.
const FIRST = 820_000;
const OURS = 230;
const OTHERS = 20;
const MOVED = FIRST;
const GONE = FIRST + 1;
const SUSPENDED = FIRST + 2;
const NO_PACKAGE = FIRST + OURS;

let bridge: Bridge;
let whmcs: WhmcsStandin;

beforeAll(async () => {
  whmcs = await startWhmcsStandin();
  const client = whmcs.addClient({ id: 61 });
  // Ours are FIRST..FIRST+OURS-1 (GONE is not in WHMCS) and NO_PACKAGE; the 20 others are another bridge's or hand-made.
  for (let n = 0; n < OURS + OTHERS; n += 1) {
    const id = n < OURS ? FIRST + n : FIRST + 1000 + n;
    if (id !== GONE) whmcs.addService({ id, clientid: client.id, pid: 3, name: 'PBX Basic' });
  }
  Object.assign(whmcs.state.services.get(MOVED)!, { pid: 4, name: 'PBX Gold' });
  Object.assign(whmcs.state.services.get(SUSPENDED)!, { status: 'Suspended' });
  whmcs.addService({ id: NO_PACKAGE, clientid: client.id, pid: 3, name: 'PBX Basic' });
  bridge = await startBridge({ WHMCS_API_URL: whmcs.url, WHMCS_API_IDENTIFIER: whmcs.identifier, WHMCS_API_SECRET: whmcs.secret });
  await bridge.startWorker({ schedulers: false });
  // The services table as creates leave it (FusionPBX's side is not what this compares).
  const services = new ServicesRepository(bridge.worker!.deps.pool);
  for (let n = 0; n <= OURS; n += 1) {
    const serviceId = FIRST + n;
    const plan = serviceId === NO_PACKAGE ? { maxExtensions: 3 } : { maxExtensions: 3, whmcsPid: 3 };
    await services.setDesired({ serviceId, clientId: client.id, desiredState: 'active', plan, eventId: randomUUID() });
  }
}, 60_000);

afterAll(async () => {
  await bridge.close();
  await whmcs.close();
});

const sources = () => ({ pool: bridge.worker!.deps.pool, fusionPool: bridge.fusion, whmcs: bridge.worker!.deps.whmcs });
const whmcsKinds = new Set<DriftItem['kind']>(['whmcs_status_mismatch', 'plan_mismatch', 'whmcs_service_missing', 'whmcs_unreachable']);
const whmcsItems = (items: readonly DriftItem[]) => items.filter((item) => whmcsKinds.has(item.kind)).map((item) => [item.serviceId, item.kind, item.actual]);
const listingCalls = () => whmcs.state.requests.filter((request) => request.action === 'GetClientsProducts');

describe('the drift check against WHMCS', () => {
  it("reads a package's services in pages, then all of WHMCS for those its listing lacks: 6 WHMCS calls for 231 services, not 231", async () => {
    whmcs.state.requests.length = 0;
    const report = await buildDriftReport(sources());
    expect(report.services).toBe(OURS + 1);
    expect(whmcsItems(report.items)).toEqual([
      [MOVED, 'plan_mismatch', 'WHMCS package 4 (PBX Gold)'],
      [GONE, 'whmcs_service_missing', 'not found'],
      [SUSPENDED, 'whmcs_status_mismatch', 'WHMCS Suspended'],
    ]);
    const calls = listingCalls();
    // 249 of package 3 in pages of 100; then MOVED, GONE and NO_PACKAGE from the 250 of all WHMCS, read to its end: GONE is not there.
    expect(calls.map((call) => call.params.pid ?? call.params.serviceid ?? 'all')).toEqual(['3', '3', '3', 'all', 'all', 'all']);
    expect(new Set(calls.map((call) => call.params.limitnum))).toEqual(new Set([String(WHMCS_PAGE_SIZE)]));
  });

  it('stops paging a package whose listing would take more calls than asking for each of our services in it', async () => {
    // 2,000 more services of package 3 that are not ours, and only 3 of ours left: after the first
    // page, 22 more pages would be dearer than asking for the (at most 3) of ours it did not hold.
    const client = [...whmcs.state.clients.keys()][0]!;
    for (let n = 0; n < 2_000; n += 1) whmcs.addService({ id: 900_000 + n, clientid: client, pid: 3, name: 'PBX Basic' });
    await bridge.worker!.deps.pool.query('DELETE FROM services WHERE service_id >= $1', [FIRST + 3]);
    whmcs.state.requests.length = 0;
    const report = await buildDriftReport(sources());
    expect(report.services).toBe(3);
    expect(whmcsItems(report.items)).toEqual([
      [MOVED, 'plan_mismatch', 'WHMCS package 4 (PBX Gold)'],
      [GONE, 'whmcs_service_missing', 'not found'],
      [SUSPENDED, 'whmcs_status_mismatch', 'WHMCS Suspended'],
    ]);
    // A first page of package 3 and one of all WHMCS (each would need 22 more), then GONE by id.
    expect(listingCalls().map((call) => call.params.pid ?? call.params.serviceid ?? 'all')).toEqual(['3', 'all', String(GONE)]);
  });

  it('a WHMCS that fails the listing makes every service of the package unreachable, without asking each one', async () => {
    whmcs.setFaults([{ mode: 'http_500', percent: 100, actions: ['GetClientsProducts'] }]);
    try {
      whmcs.state.requests.length = 0;
      const report = await buildDriftReport(sources());
      expect(report.items.filter((item) => item.kind === 'whmcs_unreachable').map((item) => item.serviceId)).toEqual([MOVED, GONE, SUSPENDED]);
      // One listing (with the client's own retries); none per service.
      expect(listingCalls().every((call) => call.params.pid === '3')).toBe(true);
    } finally {
      whmcs.setFaults([]);
    }
  });

  it("services WHMCS has never heard of (the soak's) are found missing from its listing, not asked for one by one", async () => {
    for (const id of [...whmcs.state.services.keys()]) if (id >= 900_000) whmcs.state.services.delete(id);
    const services = new ServicesRepository(bridge.worker!.deps.pool);
    for (let n = 0; n < 500; n += 1) {
      await services.setDesired({ serviceId: 830_000 + n, clientId: 61, desiredState: 'active', plan: { maxExtensions: 3, whmcsPid: 3 }, eventId: randomUUID() });
    }
    whmcs.state.requests.length = 0;
    const report = await buildDriftReport(sources());
    expect(report.counts.whmcs_service_missing).toBe(1 + 500);
    expect(listingCalls().map((call) => call.params.pid ?? call.params.serviceid ?? 'all')).toEqual(['3', '3', '3', 'all', 'all', 'all']);
  });
});
