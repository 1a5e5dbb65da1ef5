import { commandFromStored, EventValidationError, parseTenantCommand, PLAN_LIMITS, redactCommand, storedPlan } from '../src';

const body = (overrides: Record<string, unknown> = {}) => ({
  schemaVersion: 1,
  eventId: '6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  action: 'create',
  occurredAt: '2026-12-05T00:00:00Z',
  service: { id: 41, pid: 3, domain: '', username: 'admin', status: 'Pending' },
  client: { id: 7, email: 'owner@example.com' },
  plan: { maxExtensions: 3, firstExtension: 100 },
  configurableOptions: { 'maxExtensions|Extensions': '5' },
  secrets: { servicePassword: 'Adm1n-Pass-Example!' },
  unknownTopLevel: 'not carried',
  ...overrides,
});

function refusal(run: () => unknown): EventValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof EventValidationError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('the tenant command', () => {
  it('carries the registration watch scope (module setting 10) and refuses another value, naming the field', () => {
    expect(parseTenantCommand(body({ plan: { maxExtensions: 3, firstExtension: 100, registrationWatch: 'marked' } })).plan.registrationWatch).toBe('marked');
    const error = refusal(() => parseTenantCommand(body({ plan: { maxExtensions: 3, firstExtension: 100, registrationWatch: 'some' } })));
    expect(error.details.map((detail) => detail.path)).toEqual(['plan.registrationWatch']);
  });

  it('folds the configurable options into the plan once and carries only what is read', () => {
    const command = parseTenantCommand(body());
    expect(command.plan).toEqual({ maxExtensions: 5, firstExtension: 100 });
    expect(command.configurableOptions).toEqual({});
    expect(command).not.toHaveProperty('unknownTopLevel');
    expect(storedPlan(command)).toEqual({ maxExtensions: 5, firstExtension: 100, whmcsPid: 3 });
  });

  it('refuses a configurable option that moves a limit outside the one set of limits, naming the option', () => {
    const error = refusal(() => parseTenantCommand(body({ configurableOptions: { 'firstExtension|First extension': String(PLAN_LIMITS.firstExtension.max + 1) } })));
    expect(error.details).toEqual([{ path: 'configurableOptions.firstExtension', message: expect.stringContaining(`from 1 to ${PLAN_LIMITS.firstExtension.max}`) }]);
    // The plan itself is held to the same limit by the webhook schema.
    expect(refusal(() => parseTenantCommand(body({ plan: { firstExtension: PLAN_LIMITS.firstExtension.max + 1 } }))).details.map((d) => d.path)).toEqual(['plan.firstExtension']);
  });

  it('carries the FusionPBX limits (maxGateways, maxDestinations) from the plan or the options, within PLAN_LIMITS', () => {
    const command = parseTenantCommand(body({ plan: { maxExtensions: 3, firstExtension: 100, maxDestinations: 20 }, configurableOptions: { 'maxGateways|Gateways': '2' } }));
    expect(command.plan).toEqual({ maxExtensions: 3, firstExtension: 100, maxDestinations: 20, maxGateways: 2 });
    expect(PLAN_LIMITS.maxGateways).toEqual({ min: 0, max: 1000 });
    expect(PLAN_LIMITS.maxDestinations).toEqual({ min: 0, max: 10_000 });
    for (const maxGateways of [-1, PLAN_LIMITS.maxGateways.max + 1, 1.5, 'two']) {
      expect(refusal(() => parseTenantCommand(body({ plan: { firstExtension: 100, maxGateways } }))).details.map((d) => d.path)).toEqual(['plan.maxGateways']);
    }
    expect(refusal(() => parseTenantCommand(body({ configurableOptions: { 'maxDestinations|Destinations': String(PLAN_LIMITS.maxDestinations.max + 1) } }))).details).toEqual([
      { path: 'configurableOptions.maxDestinations', message: expect.stringContaining(`from 0 to ${PLAN_LIMITS.maxDestinations.max}`) },
    ]);
  });

  it('is stored redacted and read back the same, with the opened secrets', () => {
    const command = parseTenantCommand(body());
    const stored = JSON.parse(JSON.stringify(redactCommand(command))) as Record<string, unknown>;
    expect(JSON.stringify(stored)).not.toContain('Adm1n-Pass-Example!');
    expect(commandFromStored(stored, { servicePassword: 'Adm1n-Pass-Example!' })).toEqual(command);
    expect(commandFromStored(stored)).not.toHaveProperty('secrets');
    const password = parseTenantCommand(body({ action: 'change_password', configurableOptions: {} }));
    expect(commandFromStored(JSON.parse(JSON.stringify(redactCommand(password))), { servicePassword: 'Adm1n-Pass-Example!' })).toEqual(password);
  });

  it('reads a row an earlier release stored (the redacted webhook event, options not folded)', () => {
    const legacy = { ...body(), secrets: { servicePassword: '[redacted]' } };
    expect(commandFromStored(legacy, { servicePassword: 'Adm1n-Pass-Example!' })).toEqual(parseTenantCommand(body()));
  });
});
