import { parseExclusions } from '@ictvoip/rating';
import { EventValidationError, parseTenantCommand, planBillingProblems } from '../src';

const body = (overrides: Record<string, unknown> = {}) => ({
  schemaVersion: 1,
  eventId: '6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e51',
  action: 'change_package',
  occurredAt: '2026-12-05T00:00:00Z',
  service: { id: 41, pid: 3, status: 'Active', billingCycle: 'Quarterly', nextDueDate: '2027-01-15', regDate: '2026-01-15' },
  client: { id: 7 },
  plan: { maxExtensions: 3, firstExtension: 100 },
  ...overrides,
});

function details(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    if (error instanceof EventValidationError) return error.details;
    throw error;
  }
  throw new Error('accepted');
}

describe('billing fields of the one plan and the service cycle', () => {
  test('accepted from module settings and configurable options; options override settings', () => {
    const command = parseTenantCommand(
      body({
        plan: { maxExtensions: 3, firstExtension: 100, billingExcludes: '911,112,*xx,[local]', inboundBilling: 'on', inboundRate: '0.0125', inboundIncrement: '60/6' },
        configurableOptions: { 'inboundRate|Inbound rate': '0.02|2 cents', 'billingExcludes|Exclusions': '[emergency],[tollfree],4443' },
      }),
    );
    expect(command.plan).toMatchObject({ billingExcludes: '[emergency],[tollfree],4443', inboundBilling: 'on', inboundRate: '0.02', inboundIncrement: '60/6' });
    expect(command.service).toMatchObject({ billingCycle: 'Quarterly', nextDueDate: '2027-01-15' });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['a bad exclusion pattern', { plan: { firstExtension: 100, billingExcludes: '911,[voip]' } }, 'plan.billingExcludes'],
    ['a bad yes/no', { plan: { firstExtension: 100, inboundBilling: 'sometimes' } }, 'plan.inboundBilling'],
    ['a negative inbound rate', { plan: { firstExtension: 100, inboundRate: '-0.01' } }, 'plan.inboundRate'],
    ['a rate with 7 decimals (from an option)', { configurableOptions: { inboundrate: '0.0000001' } }, 'plan.inboundRate'],
    ['a zero increment', { plan: { firstExtension: 100, inboundIncrement: '0/6' } }, 'plan.inboundIncrement'],
    ['rate and deck together', { plan: { firstExtension: 100, inboundRate: '0.01', inboundRateDeck: 'dids' } }, 'plan.inboundRate'],
    ['an unknown billing cycle', { service: { id: 41, billingCycle: 'Fortnightly' } }, 'service.billingCycle'],
    ['a malformed due date', { service: { id: 41, billingCycle: 'Monthly', nextDueDate: '15/01/2027' } }, 'service.nextDueDate'],
  ])('%s is a 400 naming the field', (_name, overrides, path) => {
    expect(details(() => parseTenantCommand(body(overrides))).map((d) => d.path)).toContain(path);
  });

  test("WHMCS's no-date value and empty settings are accepted", () => {
    const command = parseTenantCommand(
      body({ service: { id: 41, billingCycle: 'Free Account', nextDueDate: '0000-00-00' }, plan: { firstExtension: 100, billingExcludes: '', inboundBilling: '' } }),
    );
    expect(command.service.nextDueDate).toBe('0000-00-00');
  });

  test("one grammar: the 400's details are the rating parser's own findings, every bad field at once", () => {
    const plan = { maxExtensions: 3, firstExtension: 100, billingExcludes: '911,[voip]', inboundIncrement: '0/6', inboundBilling: 'maybe' };
    const found = details(() => parseTenantCommand(body({ plan })));
    expect(found).toEqual(expect.arrayContaining(planBillingProblems(plan)));
    expect(found.filter((detail) => detail.path.startsWith('plan.')).map((detail) => detail.path)).toEqual([
      'plan.billingExcludes',
      'plan.inboundBilling',
      'plan.inboundIncrement',
    ]);
    const exclusion = found.find((detail) => detail.path === 'plan.billingExcludes')!;
    expect(() => parseExclusions('911,[voip]', 'plan.billingExcludes')).toThrow(exclusion.message);
    expect(planBillingProblems({ billingExcludes: 'none', inboundIncrement: '60/6', inboundRate: '0.0125' })).toEqual([]);
  });
});
