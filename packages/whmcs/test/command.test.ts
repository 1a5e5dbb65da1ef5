import { commandFromStored, EventValidationError, normaliseTrunkCidrs, parseTenantCommand, PLAN_LIMITS, redactCommand, storedPlan } from '../src';

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
  unknownTopLevel: 'kept, not read',
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
  it('reads options and DID lists with names or values a fuzzer makes (an option named constructor, objects as values) without throwing a TypeError', () => {
    // Found by the webhook fuzz test: {"constructor":{"toString":false}} as configurable options answered 500.
    const hostile = { toString: false };
    expect(parseTenantCommand(body({ configurableOptions: { constructor: hostile } })).plan).toMatchObject({ maxExtensions: 3 });
    expect(parseTenantCommand(body({ configurableOptions: { toString: '9', 'maxExtensions|Extensions': hostile } })).plan).toMatchObject({ maxExtensions: 3 });
    expect(parseTenantCommand(body({ configurableOptions: { DIDs: hostile } })).plan).not.toHaveProperty('dids');
    expect(refusal(() => parseTenantCommand(body({ customFields: { DIDs: [hostile] } }))).details.map((d) => d.path)).toEqual(['customFields.DIDs[0]']);
  });

  it('takes the trunk CIDRs from the plan, or from a "Trunk CIDRs" custom field (the plan wins), normalised as FusionPBX stores them', () => {
    const fromPlan = parseTenantCommand(body({ plan: { maxExtensions: 3, firstExtension: 100, trunkCidrs: ['203.0.113.10'] }, customFields: { 'Trunk CIDRs': '198.51.100.7' } }));
    expect(fromPlan.plan.trunkCidrs).toEqual(['203.0.113.10']);
    const fromField = parseTenantCommand(body({ customFields: { 'Trunk CIDRs|Your PBX addresses': '198.51.100.7 | 2001:db8::/48' } }));
    expect(fromField.plan.trunkCidrs).toBe('198.51.100.7 | 2001:db8::/48');
    expect(normaliseTrunkCidrs(fromField.plan.trunkCidrs)).toEqual(['198.51.100.7/32', '2001:db8::/48']);
    expect(parseTenantCommand(body({ customFields: { 'Trunk CIDRs': '' } })).plan).not.toHaveProperty('trunkCidrs');
  });

  it('refuses a bad trunk CIDR in the plan or in the custom field, naming the field and the entry', () => {
    expect(refusal(() => parseTenantCommand(body({ plan: { maxExtensions: 3, firstExtension: 100, trunkCidrs: ['10.0.0.0/8', '10.0.0.1/40'] } }))).details).toEqual([
      { path: 'plan.trunkCidrs', message: expect.stringMatching(/^'plan\.trunkCidrs\[1\]' '10\.0\.0\.1\/40' is not/) },
    ]);
    expect(refusal(() => parseTenantCommand(body({ customFields: { trunk_cidrs: 'pbx.example.com' } }))).details).toEqual([
      { path: 'customFields.trunk_cidrs', message: expect.stringMatching(/^'customFields\.trunk_cidrs\[0\]' 'pbx\.example\.com' is not/) },
    ]);
  });

  it('carries the credit-control plan fields (issue 16) from the plan or the options, normalised; refuses bad ones naming the field', () => {
    const fromPlan = parseTenantCommand(
      body({ configurableOptions: {}, plan: { firstExtension: 100, billingMode: 'Prepaid', lowBalanceThreshold: '5.00', creditRestriction: 'suspend' } }),
    );
    expect(fromPlan.plan).toEqual({ firstExtension: 100, billingMode: 'prepaid', lowBalanceThreshold: '5.00', creditRestriction: 'suspend' });
    const fromOptions = parseTenantCommand(
      body({ configurableOptions: { 'billingMode|Billing': 'Postpaid|Pay later', 'creditLimit|Credit limit': '50.00', 'lowBalanceThreshold|Low': '2.5' } }),
    );
    expect(fromOptions.plan).toMatchObject({ billingMode: 'postpaid', creditLimit: '50.00', lowBalanceThreshold: '2.5' });
    // Blank values leave the field out (the bridge's default applies).
    expect(parseTenantCommand(body({ configurableOptions: {}, plan: { firstExtension: 100, billingMode: '', creditLimit: '' } })).plan).toEqual({ firstExtension: 100 });
    for (const [key, value] of [
      ['billingMode', 'credit-card'],
      ['creditLimit', '-5.00'],
      ['creditLimit', '5,00'],
      ['lowBalanceThreshold', '1e3'],
      ['lowBalanceThreshold', '0.1234567'],
      ['creditRestriction', 'hangup'],
    ] as const) {
      expect(refusal(() => parseTenantCommand(body({ configurableOptions: {}, plan: { firstExtension: 100, [key]: value } }))).details.map((d) => d.path)).toEqual([`plan.${key}`]);
      expect(refusal(() => parseTenantCommand(body({ configurableOptions: { [`${key}|Label`]: value } }))).details.map((d) => d.path)).toEqual([`configurableOptions.${key}`]);
    }
  });

  it('carries the suspend reason WHMCS sent (credit control tells its own suspends from others by it)', () => {
    const suspend = parseTenantCommand(body({ action: 'suspend', secrets: undefined, reason: ' Overdue on Payment ' }));
    expect(suspend.reason).toBe('Overdue on Payment');
    expect(parseTenantCommand(body({ action: 'suspend', secrets: undefined }))).not.toHaveProperty('reason');
  });

  it('carries the registration watch scope (module setting 16) and refuses another value, naming the field', () => {
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

  it('keeps the top-level fields it does not read as sent, under received (the contract: unknown fields kept), once, whatever their names', () => {
    const moduleSettings = { configoption1: '4', configoption18: 'bridge' };
    const sent = JSON.parse(
      JSON.stringify(body({ moduleSettings, configurableOptionsNormalized: { maxextensions: '5' }, origin: 'whmcs' })).replace(
        '"unknownTopLevel"',
        '"__proto__":{"polluted":true},"unknownTopLevel"',
      ),
    ) as Record<string, unknown>;
    const command = parseTenantCommand(sent);
    expect(command.origin).toBe('whmcs');
    // A field named __proto__ is dropped by validation: it never becomes anyone's prototype.
    expect(command.received).toEqual({ moduleSettings, configurableOptionsNormalized: { maxextensions: '5' }, unknownTopLevel: 'kept, not read' });
    expect(Object.getPrototypeOf(command.received)).toBe(Object.prototype);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    // Read back from the inbox: the same fields, not nested a second time.
    const stored = JSON.parse(JSON.stringify(redactCommand(command))) as Record<string, unknown>;
    expect(commandFromStored(stored, { servicePassword: 'Adm1n-Pass-Example!' }).received).toEqual(command.received);
    // A body with nothing beyond the command has no received at all.
    const { unknownTopLevel: _kept, ...plain } = body();
    expect(parseTenantCommand(plain)).not.toHaveProperty('received');
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
    const suspend = parseTenantCommand(body({ action: 'suspend', secrets: undefined }));
    expect(commandFromStored(JSON.parse(JSON.stringify(redactCommand(suspend))))).not.toHaveProperty('secrets');
    const password = parseTenantCommand(body({ action: 'change_password', configurableOptions: {} }));
    expect(commandFromStored(JSON.parse(JSON.stringify(redactCommand(password))), { servicePassword: 'Adm1n-Pass-Example!' })).toEqual(password);
  });

  it('requires secrets.servicePassword on create and change_password, naming it whichever part is missing; the other actions carry none', () => {
    for (const action of ['create', 'change_password']) {
      for (const secrets of [undefined, {}]) {
        expect(refusal(() => parseTenantCommand(body({ action, secrets }))).details).toEqual([
          { path: 'secrets.servicePassword', message: "'secrets.servicePassword' is required" },
        ]);
      }
      // Listed with the body's other faults, not after them.
      expect(refusal(() => parseTenantCommand(body({ action, secrets: undefined, client: { id: 'seven' } }))).details.map((d) => d.path)).toEqual([
        'client.id',
        'secrets.servicePassword',
      ]);
    }
    for (const action of ['suspend', 'unsuspend', 'terminate', 'change_package']) {
      expect(parseTenantCommand(body({ action, secrets: undefined }))).not.toHaveProperty('secrets');
      expect(refusal(() => parseTenantCommand(body({ action }))).details.map((d) => d.path)).toEqual(['secrets']);
    }
  });

  it('refuses a create an earlier release stored without its password: a command the provisioner could never run', () => {
    const { secrets: _none, ...withoutPassword } = body();
    expect(refusal(() => commandFromStored(withoutPassword)).details).toEqual([{ path: 'secrets.servicePassword', message: "'secrets.servicePassword' is required" }]);
    // The row as the inbox holds it: redacted, its sealed password gone.
    const redacted = { ...body(), secrets: { servicePassword: '[redacted]' } };
    expect(refusal(() => commandFromStored(redacted)).details.map((d) => d.path)).toEqual(['secrets.servicePassword']);
  });

  it('reads a row an earlier release stored (the redacted webhook event, options not folded)', () => {
    const legacy = { ...body(), secrets: { servicePassword: '[redacted]' } };
    expect(commandFromStored(legacy, { servicePassword: 'Adm1n-Pass-Example!' })).toEqual(parseTenantCommand(body()));
  });
});

describe("the plan's DIDs (issue 15)", () => {
  it('are one list, main DID first: the `domain | DID` service field, plan.dids (list or `a | b`), a DIDs custom field; duplicates once', () => {
    const command = parseTenantCommand(
      body({
        service: { id: 41, domain: 'pbx41.example.net | +1 555 100 0001', username: 'admin' },
        plan: { firstExtension: 100, dids: '15551000002 | +1 555 100 0001' },
        customFields: { 'Phone Numbers': '5551000003, 5551000004', Other: '5559999999' },
      }),
    );
    expect(command.service.domain).toBe('pbx41.example.net');
    // The domain field's DIDs come out of the ictVoIP parser without their formatting.
    expect(command.plan.dids).toEqual(['+15551000001', '15551000002', '5551000003', '5551000004']);
    // Stored and read back, the command is the same (nothing folded twice).
    expect(commandFromStored(redactCommand(command) as unknown as Record<string, unknown>, { servicePassword: 'Adm1n-Pass-Example!' }).plan.dids).toEqual(command.plan.dids);
  });

  it('are absent when nothing states them (the numbers stay), an empty list when a source is emptied (the plan numbers go)', () => {
    expect(parseTenantCommand(body()).plan).not.toHaveProperty('dids');
    expect(parseTenantCommand(body({ customFields: { DIDs: '' } })).plan.dids).toEqual([]);
    expect(parseTenantCommand(body({ plan: { firstExtension: 100, dids: [] } })).plan.dids).toEqual([]);
  });

  it('come from a configurable option named "DIDs" or "Phone Numbers": a `a | b` or comma list, or a dropdown choice `value|Label`', () => {
    const dids = (configurableOptions: Record<string, unknown>, plan: Record<string, unknown> = {}) =>
      parseTenantCommand(body({ plan: { maxExtensions: 3, firstExtension: 100, ...plan }, configurableOptions })).plan.dids;
    expect(dids({ 'DIDs|Phone numbers': '5195550100 | 5195550101' })).toEqual(['5195550100', '5195550101']);
    expect(dids({ 'Phone Numbers': '(519) 555-0100, +1 519 555 0101;5195550102' })).toEqual(['(519) 555-0100', '+1 519 555 0101', '5195550102']);
    // A dropdown's value|Label: the label starts at the first part that is not phone numbers.
    expect(dids({ DID: '5195550103|Toronto (519) 555-0103' })).toEqual(['5195550103']);
    expect(dids({ DID: '5195550103 | 5195550104|Two Toronto numbers' })).toEqual(['5195550103', '5195550104']);
    // A label writing the value's number another way is the same number (once FusionPBX's side normalises it too).
    expect(dids({ DID: '5195550105|(519) 555-0105' })).toEqual(['5195550105']);
    // The plan's numbers first (main DID), then the option's, then a custom field's; each number once.
    const command = parseTenantCommand(
      body({
        plan: { maxExtensions: 3, firstExtension: 100, dids: ['5195550100'] },
        configurableOptions: { 'maxExtensions|Extensions': '5', 'DIDs|Phone numbers': '5195550101 | 519-555-0100' },
        customFields: { DIDs: '5195550102' },
      }),
    );
    expect(command.plan.dids).toEqual(['5195550100', '5195550101', '5195550102']);
    expect(command.plan.maxExtensions).toBe(5);
    expect(command.configurableOptions).toEqual({});
  });

  it('a "no number" choice states none (the plan numbers go); a quantity or checkbox under that name states nothing', () => {
    const plan = (configurableOptions: Record<string, unknown>) => parseTenantCommand(body({ configurableOptions })).plan;
    expect(plan({ 'DIDs|Phone numbers': 'none|No number' }).dids).toEqual([]);
    expect(plan({ DIDs: '' }).dids).toEqual([]);
    for (const quantity of [2, '3', 'on', 'yes']) expect(plan({ 'DIDs|Extra numbers': quantity })).not.toHaveProperty('dids');
    // "Numbers" alone is left to quantities (a custom field of that name still holds numbers).
    expect(plan({ Numbers: '5195550100' })).not.toHaveProperty('dids');
  });

  it('a bad number in an option is refused naming the option and the entry', () => {
    expect(refusal(() => parseTenantCommand(body({ configurableOptions: { 'DIDs|Phone numbers': '5195550100 | 519555010x' } }))).details).toEqual([
      { path: 'configurableOptions.DIDs[1]', message: "'519555010x' is not a phone number (digits, optional leading +)" },
    ]);
  });

  it('refuses a bad number naming where it came from, and a bad country code or format', () => {
    expect(refusal(() => parseTenantCommand(body({ customFields: { DIDs: '5551000001 | 555-CALL-NOW' } }))).details).toEqual([
      { path: 'customFields.DIDs[1]', message: "'555-CALL-NOW' is not a phone number (digits, optional leading +)" },
    ]);
    expect(refusal(() => parseTenantCommand(body({ service: { id: 41, domain: 'pbx41.example.net | nope' } }))).details[0].path).toBe('service.domain');
    const paths = refusal(() => parseTenantCommand(body({ plan: { firstExtension: 100, countryCode: '0x1', numberFormat: 'local' } }))).details.map((detail) => detail.path);
    expect(paths).toEqual(['plan.countryCode', 'plan.numberFormat']);
  });
});
