import { describeError, desiredFromWhmcs, DRIFT_KINDS, includedSecondsOf, planFixes, type DriftItem, type DriftReport } from '../src';

const item = (serviceId: number | null, kind: DriftItem['kind'], fixAction: DriftItem['fixAction'], extra: Partial<DriftItem> = {}): DriftItem => ({
  kind,
  serviceId,
  domain: null,
  expected: '',
  actual: '',
  fixAction,
  ...extra,
});
const reportOf = (items: DriftItem[]): DriftReport => ({
  checkedAt: new Date(0).toISOString(),
  services: 0,
  tenants: 0,
  whmcsChecked: true,
  items,
  counts: Object.fromEntries(DRIFT_KINDS.map((kind) => [kind, 0])) as DriftReport['counts'],
});

describe('drift fix plan', () => {
  it('takes one action per service, WHMCS first, and leaves what no job converges to a person', () => {
    const { planned, manual } = planFixes(
      reportOf([
        item(1, 'domain_disabled', 'change_package'),
        item(1, 'whmcs_status_mismatch', 'suspend'),
        item(2, 'state_mismatch', 'unsuspend'),
        item(2, 'domain_disabled', 'unsuspend'),
        item(3, 'plan_mismatch', 'change_package', { fixPlan: { maxExtensions: 5 } }),
        item(4, 'tenant_missing', null),
        item(null, 'fusionpbx_unreachable', null),
      ]),
    );
    expect(Object.fromEntries(planned)).toEqual({
      1: { action: 'suspend', kinds: ['whmcs_status_mismatch'] },
      2: { action: 'unsuspend', kinds: ['state_mismatch', 'domain_disabled'] },
      3: { action: 'change_package', kinds: ['plan_mismatch'], plan: { maxExtensions: 5 } },
    });
    expect(manual.map((entry) => [entry.serviceId, entry.kind])).toEqual([
      [4, 'tenant_missing'],
      [null, 'fusionpbx_unreachable'],
    ]);
  });

  it('maps WHMCS statuses to desired states (none for Pending or Fraud)', () => {
    expect(['Active', 'Suspended', 'Terminated', 'Cancelled', 'Pending', 'Fraud'].map(desiredFromWhmcs)).toEqual(['active', 'suspended', 'terminated', 'terminated', null, null]);
  });
});

describe('rating helpers', () => {
  it('reads included minutes as seconds; anything but a non-negative whole number is none', () => {
    expect([10, '3', -1, 1.5, 'x', undefined].map((includedMinutes) => includedSecondsOf({ includedMinutes }))).toEqual([600, 180, 0, 0, 0, 0]);
  });

  it('describes an error by its message, or its code when the message is empty', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError(Object.assign(new Error(''), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(describeError('plain')).toBe('plain');
  });
});
