import fc from 'fast-check';
import { checkTenantEvent, EventValidationError, parseWebhookEvent, TENANT_ACTIONS, webhookEventSchema } from '@ictvoip/whmcs';
import { buildEvent } from '@ictvoip/testkit';

/**
 * The compiled check (event.ts, checkTenantEvent) against the joi schema, the reference: whatever body it
 * takes, joi takes too and returns the very same value; a body it does not take goes to joi, so
 * parseWebhookEvent accepts and refuses (naming the same fields) exactly as joi does.
 */
type Answer = { value: unknown } | { details: { path: string; message: string }[] };

function reference(body: unknown): Answer {
  const { value, error } = webhookEventSchema.validate(body, { abortEarly: false, convert: true });
  if (!error) return { value };
  return { details: error.details.map((d) => ({ path: d.path.join('.') || '(body)', message: d.message.replace(/"/g, "'") })) };
}

function actual(body: unknown): Answer {
  try {
    return { value: parseWebhookEvent(body) };
  } catch (error) {
    if (error instanceof EventValidationError) return { details: error.details };
    throw error;
  }
}

/**
 * A value as plain data that jest compares exactly: keys in their order, undefined members, the
 * prototype, NaN and -0 kept. (toStrictEqual reads `.constructor`, which a fuzzed own key replaces.)
 */
function exact(value: unknown): unknown {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : Number.isNaN(value) ? 'NaN' : value;
  if (value === undefined) return '(undefined)';
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return ['(array)', ...value.map(exact)];
  const proto = Object.getPrototypeOf(value) as unknown;
  const kind = proto === Object.prototype ? '(object)' : proto === null ? '(null prototype)' : '(other prototype)';
  return [kind, ...Reflect.ownKeys(value).map((key) => [String(key), exact((value as Record<string | symbol, unknown>)[key])])];
}

/** Checks one body; tells whether the compiled check took it. */
function agree(body: unknown): boolean {
  const expected = exact(reference(body));
  const compiled = checkTenantEvent(body);
  if (compiled !== null) expect(exact({ value: compiled })).toEqual(expected);
  expect(exact(actual(body))).toEqual(expected);
  return compiled !== null;
}

const PROTO_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

/** Values right for some fields, wrong for others, or ones joi converts (strings to numbers, case, blanks, -0). */
const anyValue = fc.oneof(
  fc.constantFrom(undefined, null, 0, -0, 1, -1, 1.5, 42, 100, 9999, 10_000, 10_001, 99_999_999, 2 ** 53, 1e21, Number.NaN, Infinity, true, false),
  fc.constantFrom('', ' ', '42', ' 42 ', '0042', '1e3', 'x', 'true', ' TRUE ', 'False', 'yes', 'on', 'postpaid', ' Prepaid ', 'SUSPEND', 'outbound ', 'none'),
  fc.constantFrom('5.00', ' 5.00 ', '-5', '1.1234567', '12.345', '2112 | 2113', '2112|2112', '2112 | x', '203.0.113.10', '198.51.100.0/24', 'bad/99'),
  fc.constantFrom('+15195550100', ' 519-555-0100 ', '12', '+44', '44', '044', 'e164', 'national', 'all', 'marked', 'off', 'Monthly', 'semiannually', 'Weekly'),
  fc.constantFrom('2026-11-29', '0000-00-00', '29/11/2026', '2026-11-29T02:00:00Z', '2026-02-31T00:00:00Z', '2026-11-29T02:00:00+01:00', '2026-11-29 02:00:00'),
  fc.constantFrom({}, [], ['2112', 2113], ['+15195550100', 5195550101], [' 5195550100 '], [''], [12], ['203.0.113.10', 'x'], { servicePassword: 'p' }, { id: 5 }, { id: '5' }),
  // GUIDs of other versions and variants, wrapped, without dashes: joi refuses or takes each its own way.
  fc.constantFrom('0b6f3c9e-8c1d-2a7e-9f41-2d5c6b7a8e90', '0b6f3c9e-8c1d-6a7e-9f41-2d5c6b7a8e90', '0b6f3c9e-8c1d-4a7e-cf41-2d5c6b7a8e90', '0B6F3C9E-8C1D-7A7E-AF41-2D5C6B7A8E90'),
  fc.constantFrom('{0b6f3c9e-8c1d-4a7e-9f41-2d5c6b7a8e90}', '0b6f3c9e8c1d4a7e9f412d5c6b7a8e90', '0b6f3c9e-8c1d-4a7e-9f41-2d5c6b7a8e9', ' 0b6f3c9e-8c1d-4a7e-9f41-2d5c6b7a8e90'),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
);

const TOP = ['schemaVersion', 'eventId', 'action', 'occurredAt', 'service', 'client', 'server', 'plan', 'configurableOptions', 'customFields', 'secrets', 'origin'];
const PLAN = [
  'maxExtensions',
  'initialExtensions',
  'firstExtension',
  'extensionNumbers',
  'maxGateways',
  'maxDestinations',
  'maxDevices',
  'maxUsers',
  'routeTemplate',
  'trunkCidrs',
  'rateDeck',
  'billingMode',
  'creditLimit',
  'lowBalanceThreshold',
  'creditRestriction',
  'includedMinutes',
  'dids',
  'countryCode',
  'numberFormat',
  'ringGroup',
  'callerIdNamePrefix',
  'billingExcludes',
  'inboundBilling',
  'inboundRate',
  'inboundIncrement',
  'registrationWatch',
];
const SERVICE = ['id', 'pid', 'domain', 'username', 'status', 'billingCycle', 'nextDueDate', 'regDate'];
const CLIENT = ['id', 'email', 'companyName', 'firstName'];
const FIELDS = [
  ...TOP,
  ...PLAN.map((key) => `plan.${key}`),
  ...SERVICE.map((key) => `service.${key}`),
  ...CLIENT.map((key) => `client.${key}`),
  'server.id',
  'server.hostname',
  'secrets.servicePassword',
  'secrets.extra',
  'configurableOptions.extensions',
  'eventId.case',
  ...['', 'plan.', 'service.', 'client.', 'secrets.', 'configurableOptions.'].flatMap((at) => PROTO_KEYS.map((key) => `${at}${key}`)),
];

/** Sets a field as an own property (an own `__proto__` too, as JSON.parse makes it); undefined deletes it. */
function mutate(body: Record<string, unknown>, path: string, value: unknown, keepUndefined: boolean): void {
  if (path === 'eventId.case') {
    if (typeof body.eventId === 'string') body.eventId = body.eventId.toUpperCase();
    return;
  }
  const dot = path.indexOf('.');
  const [target, key] = dot < 0 ? [body, path] : [ownObject(body, path.slice(0, dot)), path.slice(dot + 1)];
  if (target === null) return;
  if (value === undefined && !keepUndefined) delete target[key];
  else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function ownObject(body: Record<string, unknown>, key: string): Record<string, unknown> | null {
  const inner = Object.hasOwn(body, key) ? body[key] : undefined;
  const copy = inner === undefined ? {} : inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? { ...(inner as Record<string, unknown>) } : null;
  if (copy !== null) body[key] = copy;
  return copy;
}

describe('the compiled event check', () => {
  it('takes the bodies WHMCS sends for every tenant action, with the value joi returns', () => {
    for (const action of TENANT_ACTIONS) {
      const body = buildEvent({ action, ...(action === 'create' || action === 'change_password' ? {} : { secrets: undefined }) });
      expect(agree(JSON.parse(JSON.stringify(body)))).toBe(true);
    }
    const full = buildEvent({
      plan: {
        maxExtensions: 5,
        billingMode: ' Prepaid ',
        creditLimit: ' 50.00 ',
        creditRestriction: '',
        dids: [' +1 519 555 0100 ', 5195550101],
        inboundBilling: 'TRUE',
        countryCode: '1',
      },
      configurableOptions: { 'extensions|Extensions': '2112 | 2113' },
      service: { id: 7, domain: 'mcon.example.ca | 5192229000', billingCycle: 'Semi-Annually', nextDueDate: '0000-00-00', regDate: '' },
    });
    expect(agree(JSON.parse(JSON.stringify(full)))).toBe(true);
    // Own keys named like Object.prototype's members are plain unknown keys (a fuzzed case jest's toStrictEqual could not compare).
    const prototypeKeys = JSON.parse(JSON.stringify(buildEvent()).replace('"service":{', '"service":{"constructor":null,').replace('"plan":{', '"plan":{"toString":1,'));
    expect(agree(prototypeKeys)).toBe(true);
  });

  it('leaves test_connection, the read actions and bodies with an own __proto__ to joi', () => {
    expect(agree(buildEvent({ action: 'test_connection', secrets: undefined }))).toBe(false);
    expect(agree(buildEvent({ action: 'status', secrets: undefined }))).toBe(false);
    expect(agree(JSON.parse(JSON.stringify(buildEvent()).replace('"plan":{', '"plan":{"__proto__":{"maxExtensions":1},')))).toBe(false);
    expect(agree(JSON.parse(JSON.stringify(buildEvent()).replace('{', '{"__proto__":{"action":"create"},')))).toBe(false);
  });

  it('agrees with joi on accept, refuse, the value and the fields named, over fuzzed bodies', () => {
    let taken = 0;
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...TENANT_ACTIONS, 'test_connection'),
        fc.array(fc.tuple(fc.constantFrom(...FIELDS), anyValue), { maxLength: 4 }),
        fc.boolean(),
        (action, mutations, viaJson) => {
          const body = buildEvent({ action, serviceId: 42, ...(action === 'create' || action === 'change_password' ? {} : { secrets: undefined }) });
          if (body.secrets === undefined) delete body.secrets;
          for (const [path, value] of mutations) mutate(body, path, value, !viaJson);
          const input: unknown = viaJson ? JSON.parse(JSON.stringify(body)) : body;
          if (agree(input)) taken += 1;
          if ('value' in reference(input)) accepted += 1;
        },
      ),
      { numRuns: 6000 },
    );
    // The check is no check if it hands everything to joi: most accepted bodies must be its own.
    expect(taken).toBeGreaterThan(accepted / 2);
  });
});
