import { DRIFT_KINDS, type DriftItem, type DriftReport } from '@ictvoip/operations';
import { DRIFT_ITEMS_KEPT, storedDriftReport } from '../src/jobs/maintenance/drift-job';

function reportWith(items: number): DriftReport {
  const list: DriftItem[] = Array.from({ length: items }, (_, i) => ({
    kind: 'whmcs_service_missing',
    serviceId: 910_000 + i,
    domain: `s${i}.example.test`,
    expected: `service ${910_000 + i} in WHMCS`,
    actual: 'not found',
    fixAction: null,
  }));
  const counts = Object.fromEntries(DRIFT_KINDS.map((kind) => [kind, kind === 'whmcs_service_missing' ? items : 0])) as DriftReport['counts'];
  return { checkedAt: '2026-12-05T14:00:00.000Z', services: items, tenants: items, whmcsChecked: true, items: list, counts };
}

describe('the drift job result kept in Redis (GET /admin/drift reads it)', () => {
  it('keeps a small report whole', () => {
    const report = reportWith(3);
    expect(storedDriftReport(report)).toEqual({ ...report, itemsOmitted: 0 });
  });

  it('keeps the first DRIFT_ITEMS_KEPT items of a large report and every count, and says how many it left out', () => {
    const report = reportWith(DRIFT_ITEMS_KEPT + 2_500);
    const stored = storedDriftReport(report);
    expect(stored.items).toEqual(report.items.slice(0, DRIFT_ITEMS_KEPT));
    expect(stored.itemsOmitted).toBe(2_500);
    expect(stored.counts.whmcs_service_missing).toBe(DRIFT_ITEMS_KEPT + 2_500);
    // What Redis holds does not follow the fleet: the same size for 2,600 differences as for 100.
    expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(storedDriftReport(reportWith(DRIFT_ITEMS_KEPT))).length + 100);
  });
});
