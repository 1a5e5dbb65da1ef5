import fc from 'fast-check';
import { EventValidationError, parseWebhookEvent, WEBHOOK_ACTIONS, webhookEventSchema } from '@ictvoip/whmcs';

/** What the full schema (every `when` included) says about a body: the reference for the fast path. */
function reference(body: unknown): { value: unknown } | { details: { path: string; message: string }[] } {
  const { value, error } = webhookEventSchema.validate(body, { abortEarly: false, convert: true });
  if (!error) return { value };
  return { details: error.details.map((d) => ({ path: d.path.join('.') || '(body)', message: d.message.replace(/"/g, "'") })) };
}

function actual(body: unknown): { value: unknown } | { details: { path: string; message: string }[] } {
  try {
    return { value: parseWebhookEvent(body) };
  } catch (error) {
    if (error instanceof EventValidationError) return { details: error.details };
    throw error;
  }
}

const validBody = (action: string): Record<string, unknown> => ({
  schemaVersion: 1,
  eventId: '0b6f3c9e-8c1d-4a7e-9f41-2d5c6b7a8e90',
  action,
  occurredAt: '2026-11-29T02:00:00.000Z',
  service: { id: 42, pid: 3, domain: '', username: 'admin', status: 'Active' },
  client: { id: 7, email: 'owner@example.com', companyName: 'Example Ltd' },
  server: { id: 1, hostname: 'bridge.example.net' },
  plan: { maxExtensions: 3, rateDeck: 'standard' },
  configurableOptions: {},
  customFields: {},
  ...(action === 'create' || action === 'change_password' ? { secrets: { servicePassword: 'Adm1n-Pass-Example!' } } : {}),
});

// Values that are right for some fields and wrong for others, converted by joi or not.
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constantFrom(0, 1, -1, 42, 1.5, 10_001, '42', '', 'x', 'create', 'test_connection', 'change_password', true, '2026-11-29T02:00:00Z', 'not-a-date'),
  fc.constantFrom({}, [], { servicePassword: 'p' }, { servicePassword: '' }, { servicePassword: 'p', other: 1 }, { id: 5 }, { id: '5' }, { id: 0 }),
  fc.string({ maxLength: 300 }),
  fc.integer(),
);
const FIELDS = [
  'schemaVersion',
  'eventId',
  'action',
  'occurredAt',
  'service',
  'service.id',
  'service.pid',
  'service.domain',
  'client',
  'client.id',
  'client.email',
  'server',
  'server.id',
  'plan',
  'plan.maxExtensions',
  'plan.firstExtension',
  'configurableOptions',
  'customFields',
  'secrets',
  'secrets.servicePassword',
  'secrets.extra',
  'extraTopLevel',
];

function mutate(body: Record<string, unknown>, path: string, value: unknown): void {
  const [head, tail] = path.split('.');
  if (!tail) {
    if (value === undefined) delete body[head];
    else body[head] = value;
    return;
  }
  const inner = body[head];
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return;
  const copy = { ...(inner as Record<string, unknown>) };
  if (value === undefined) delete copy[tail];
  else copy[tail] = value;
  body[head] = copy;
}

describe('parseWebhookEvent', () => {
  it.each(WEBHOOK_ACTIONS)('accepts a valid %s exactly as the full schema does', (action) => {
    const body = validBody(action);
    expect(actual(body)).toEqual(reference(body));
    expect(actual(body)).toHaveProperty('value');
  });

  it('answers every body (value or every failing path) exactly as the full schema does', () => {
    fc.assert(
      fc.property(fc.constantFrom(...WEBHOOK_ACTIONS), fc.array(fc.tuple(fc.constantFrom(...FIELDS), anyValue), { maxLength: 4 }), (action, mutations) => {
        const body = validBody(action);
        for (const [path, value] of mutations) mutate(body, path, value);
        expect(actual(body)).toEqual(reference(body));
      }),
      { numRuns: 3000 },
    );
  });

  it('takes a body that is no object to the full schema', () => {
    for (const body of [null, [], 'create', 42, [validBody('create')]]) expect(actual(body)).toEqual(reference(body));
  });
});
