/**
 * The drift report's route rows (drift-rows.ts) from a tenant's recorded state and the rows read
 * back: each way the bridge's outbound routes can differ, with what it says and who fixes it.
 */
import { routeAbbreviation } from '@ictvoip/fusionpbx';
import type { ServiceRecord } from '@ictvoip/store';
import type { FusionTenantRow } from '../src/drift-report';
import { writtenRowDifferences, type FoundRows, type RouteExpectations, type WrittenRows } from '../src/drift-rows';

const ROUTE_A = '0b1f6a56-1c1e-4a53-9a0e-6d3c7f000001';
const ROUTE_B = '0b1f6a56-1c1e-4a53-9a0e-6d3c7f000002';
const ROUTE_C = '0b1f6a56-1c1e-4a53-9a0e-6d3c7f000003';
const ROUTE_D = '0b1f6a56-1c1e-4a53-9a0e-6d3c7f000004';

function service(desiredState: ServiceRecord['desiredState'], plan: Record<string, unknown> = {}): ServiceRecord {
  const at = new Date('2026-12-01T00:00:00Z');
  return {
    serviceId: 5101,
    clientId: 51,
    tenantDomain: 'routes.pbx.example.net',
    desiredState,
    observedState: desiredState,
    generation: 1,
    plan,
    properties: {},
    pendingApply: null,
    lastEventId: null,
    fusionpbxServer: null,
    adoptedAt: null,
    cdrBillingFrom: null,
    createdAt: at,
    updatedAt: at,
    terminatedAt: desiredState === 'terminated' ? at : null,
  };
}

function tenant(written: Partial<WrittenRows>): FusionTenantRow {
  return {
    serviceId: 5101,
    domainName: 'routes.pbx.example.net',
    domainEnabled: true,
    status: null,
    enabledExtensions: 0,
    guiLimits: {},
    written: { outboundRoutes: [], trunkNodes: [], planNumbers: [], restricted: false, restrictedRoutes: [], gateway: null, gatewayPlanDisabled: false, ...written },
  };
}

const found = (routes: [string, { enabled: boolean; name: string }][]): FoundRows => ({
  routes: new Map(routes),
  nodes: new Map(),
  numbers: new Map(),
  gateways: new Map(),
  inboundRoutes: [],
});

const TEMPLATES: RouteExpectations = {
  gatewayTemplates: { 'carrier-a': { proxy: 'sip.carrier-a.example', register: false } },
  routeTemplates: { default: [{ pattern: '^(\\d{10})$' }] },
};
const routesOf = (items: ReturnType<typeof writtenRowDifferences>) => items.filter((item) => item.kind === 'routes_mismatch');

describe('drift rows: the bridge’s outbound routes', () => {
  it('without the templates, a route dialplan gone from FusionPBX is a difference change_package fixes', () => {
    const items = routesOf(writtenRowDifferences(service('active'), tenant({ outboundRoutes: [ROUTE_A, ROUTE_B] }), found([[ROUTE_A, { enabled: true, name: 'x' }]])));
    expect(items).toEqual([
      {
        serviceId: 5101,
        domain: 'routes.pbx.example.net',
        kind: 'routes_mismatch',
        expected: "the bridge's 2 outbound route dialplan(s)",
        actual: `1 missing (${ROUTE_B})`,
        fixAction: 'change_package',
      },
    ]);
  });

  it("with the templates, routes that are not the plan's template are a difference change_package fixes", () => {
    const plan = { gatewayTemplate: 'carrier-a' };
    const rows = found([[ROUTE_A, { enabled: true, name: 'carrier-a.other' }]]);
    const [item, ...others] = routesOf(writtenRowDifferences(service('active', plan), tenant({ outboundRoutes: [ROUTE_A] }), rows, TEMPLATES));
    expect(others).toEqual([]);
    expect(item).toEqual({
      serviceId: 5101,
      domain: 'routes.pbx.example.net',
      kind: 'routes_mismatch',
      expected: `the 1 route(s) of template default: carrier-a.${routeAbbreviation('^(\\d{10})$')}`,
      actual: '1 route dialplan(s) of the bridge: carrier-a.other',
      fixAction: 'change_package',
    });
  });

  it("with the templates, the plan's own two dialplans per entry are no difference", () => {
    const plan = { gatewayTemplate: 'carrier-a' };
    const name = `carrier-a.${routeAbbreviation('^(\\d{10})$')}`;
    const rows = found([
      [ROUTE_A, { enabled: true, name }],
      [ROUTE_B, { enabled: true, name }],
    ]);
    expect(routesOf(writtenRowDifferences(service('active', plan), tenant({ outboundRoutes: [ROUTE_A, ROUTE_B] }), rows, TEMPLATES))).toEqual([]);
  });

  it('a plan naming a template PROVISIONING_FILE lacks needs an operator: no fix action, a note', () => {
    const items = routesOf(writtenRowDifferences(service('active', { gatewayTemplate: 'carrier-z' }), tenant({ outboundRoutes: [] }), found([]), TEMPLATES));
    expect(items).toEqual([
      {
        serviceId: 5101,
        domain: 'routes.pbx.example.net',
        kind: 'routes_mismatch',
        expected: 'the routes of the plan',
        actual: 'the plan\'s gateway template "carrier-z" is not in PROVISIONING_FILE',
        fixAction: null,
        note: 'needs an operator: fix PROVISIONING_FILE or the plan, then change_package',
      },
    ]);
  });

  it('a suspended tenant’s route enabled in FusionPBX needs an operator; under the credit restriction only the routes it disabled count', () => {
    const rows = found([
      [ROUTE_C, { enabled: true, name: 'c' }],
      [ROUTE_D, { enabled: true, name: 'emergency' }],
    ]);
    const suspended = routesOf(writtenRowDifferences(service('suspended'), tenant({ outboundRoutes: [ROUTE_C, ROUTE_D] }), rows));
    expect(suspended).toEqual([
      {
        serviceId: 5101,
        domain: 'routes.pbx.example.net',
        kind: 'routes_mismatch',
        expected: "the bridge's outbound routes disabled (the tenant is suspended)",
        actual: `2 enabled (${ROUTE_C}, ${ROUTE_D})`,
        fixAction: null,
        note: 'needs an operator: a route was enabled in FusionPBX; disable it there (unsuspend / the credit top-up restores the routes exactly)',
      },
    ]);
    const restricted = routesOf(writtenRowDifferences(service('active'), tenant({ outboundRoutes: [ROUTE_C, ROUTE_D], restricted: true, restrictedRoutes: [ROUTE_C] }), rows));
    expect(restricted).toEqual([
      expect.objectContaining({ expected: "the bridge's outbound routes disabled (the credit restriction)", actual: `1 enabled (${ROUTE_C})`, fixAction: null }),
    ]);
  });
});

describe('drift rows: the plan’s gateway', () => {
  const GATEWAY = '0b1f6a56-1c1e-4a53-9a0e-6d3c7f0000aa';
  const withGateways = (gateways: { uuid: string; enabled: boolean; name: string }[]): FoundRows => ({
    ...found([]),
    gateways: new Map([['routes.pbx.example.net', gateways]]),
  });
  const gatewaysOf = (items: ReturnType<typeof writtenRowDifferences>) =>
    items.filter((item) => item.kind === 'gateway_mismatch').map((item) => [item.expected, item.actual, item.fixAction]);

  it("the template's gateway under another name (the template renamed since) is a difference change_package fixes; the same name is none", () => {
    const plan = { gatewayTemplate: 'carrier-a' };
    const templates: RouteExpectations = { gatewayTemplates: { 'carrier-a': { name: 'Carrier A', proxy: 'sip.carrier-a.example', register: false } } };
    const rows = (name: string) => withGateways([{ uuid: GATEWAY, enabled: true, name }]);
    expect(gatewaysOf(writtenRowDifferences(service('active', plan), tenant({ gateway: GATEWAY }), rows('carrier-a'), templates))).toEqual([
      ["the plan's gateway Carrier A, enabled", 'gateway named carrier-a', 'change_package'],
    ]);
    expect(gatewaysOf(writtenRowDifferences(service('active', plan), tenant({ gateway: GATEWAY }), rows('Carrier A'), templates))).toEqual([]);
    // Without the templates the name is not known: only presence and the enabled flag are compared.
    expect(gatewaysOf(writtenRowDifferences(service('active', plan), tenant({ gateway: GATEWAY }), rows('carrier-a')))).toEqual([]);
  });

  it('a plan that dropped its gateway template wants the bridge’s gateway disabled; the tenant’s own gateways are not compared while active', () => {
    const rows = withGateways([
      { uuid: GATEWAY, enabled: true, name: 'carrier-a' },
      { uuid: ROUTE_A, enabled: true, name: 'own-trunk' },
    ]);
    expect(gatewaysOf(writtenRowDifferences(service('active'), tenant({ gateway: GATEWAY }), rows))).toEqual([
      ["the bridge's gateway disabled (the plan has no gateway template)", 'gateway carrier-a enabled', 'change_package'],
    ]);
    expect(gatewaysOf(writtenRowDifferences(service('active'), tenant({ gateway: null }), rows))).toEqual([]);
    expect(gatewaysOf(writtenRowDifferences(service('active', { gatewayTemplate: 'carrier-b' }), tenant({ gateway: null }), rows))).toEqual([
      ["the plan's gateway of template carrier-b, enabled", 'no gateway written', 'change_package'],
    ]);
  });

  it('the plan gateway gone while another gateway of the tenant has the template’s name needs a person: change_package would take that one over', () => {
    const rows = withGateways([{ uuid: ROUTE_A, enabled: true, name: 'carrier-a' }]);
    const items = writtenRowDifferences(service('active', { gatewayTemplate: 'carrier-a' }), tenant({ gateway: GATEWAY }), rows).filter((item) => item.kind === 'gateway_mismatch');
    expect(items).toEqual([
      expect.objectContaining({
        actual: `gateway ${GATEWAY} missing from FusionPBX; gateway ${ROUTE_A} has the template's name`,
        fixAction: null,
        note: expect.stringContaining('change_package does not take it over'),
      }),
    ]);
  });
});

describe('drift rows: inbound routes of other domains over the tenant’s numbers', () => {
  const DOMAIN = 'routes.pbx.example.net';
  const withRoutes = (inboundRoutes: FoundRows['inboundRoutes'], numbers: { number: string; prefix: string | null; enabled: boolean }[]): FoundRows => ({
    ...found([]),
    numbers: new Map([[DOMAIN, numbers]]),
    inboundRoutes,
  });
  const conflicts = (items: ReturnType<typeof writtenRowDifferences>) => items.filter((item) => item.kind === 'inbound_route_conflict');
  const numbers = [
    { number: '5552240001', prefix: '1', enabled: true },
    { number: '5552240002', prefix: '1', enabled: true },
    // A disabled number is reached by no call: not compared.
    { number: '5552240003', prefix: '1', enabled: false },
  ];

  it('a route naming a number and a catch-all are named with their domain; the tenant’s own routes and disabled numbers are not compared', () => {
    const rows = withRoutes(
      [
        { uuid: ROUTE_A, name: 'sales', domain: 'other.pbx.example.net', regex: '^(5552240001)$' },
        { uuid: ROUTE_B, name: '', domain: null, regex: '^\\+?(\\d{10,11})$' },
        { uuid: ROUTE_C, name: 'own', domain: 'ROUTES.pbx.example.net', regex: '^(\\d+)$' },
        { uuid: ROUTE_D, name: 'third', domain: 'other.pbx.example.net', regex: '^(5552240003)$' },
      ],
      numbers,
    );
    const items = conflicts(writtenRowDifferences(service('active', { countryCode: '1' }), tenant({}), rows));
    expect(items.map((item) => [item.actual, item.fixAction])).toEqual([
      [
        `route sales of domain other.pbx.example.net (^(5552240001)$) matches +15552240001; route ${ROUTE_B} of no domain (global) (^\\+?(\\d{10,11})$) matches +15552240001, +15552240002 as one of a range`,
        null,
      ],
    ]);
    // Not active: its numbers are disabled anyway.
    expect(conflicts(writtenRowDifferences(service('suspended', { countryCode: '1' }), tenant({}), rows))).toEqual([]);
    expect(conflicts(writtenRowDifferences(service('active', { countryCode: '1' }), tenant({}), withRoutes([], numbers)))).toEqual([]);
  });
});
