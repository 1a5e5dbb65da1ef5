import type { Express } from 'express';
import { call } from './v1-helpers';
import { startTestApi, type TestApi } from './harness';

/**
 * README: "The full description is GET /openapi.json". Every route the process serves (read from
 * Express's own route table, so a route added later is covered) must be in it with its method; and
 * nothing is described that the process does not serve (ictVoIP's endpoints only with COMPAT_ICTVOIP=1).
 */
type Layer = { route?: { path: string | string[]; methods: Record<string, boolean>; stack?: { handle: { name: string } }[] }; handle?: { stack?: Layer[] } };

function servedRoutes(api: TestApi): Set<string> {
  const app = api.api.server.listeners('request')[0] as Express & { router: { stack: Layer[] } };
  const served = new Set<string>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      // /v1's 405 answer for the methods a path does not take serves nothing.
      if (layer.route?.stack?.every((step) => step.handle.name === 'methodNotAllowed')) continue;
      if (layer.route) {
        const methods = layer.route.methods._all ? ['get', 'post'] : Object.keys(layer.route.methods).filter((method) => method !== 'head');
        for (const path of ([] as string[]).concat(layer.route.path)) {
          // OpenAPI's form: `:tenant` → `{tenant}`; `/x` and `/x/` are one path (non-strict routing).
          const openApiPath = path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
          for (const method of methods) served.add(`${method} ${openApiPath}`);
        }
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk(app.router.stack);
  // Bull Board is a whole app mounted under /admin/queues (its own routes are its UI's).
  served.add('get /admin/queues');
  return served;
}

const sameRoute = (a: string) => a.replace(/\/(?= |$)/, '').replace(/\/$/, '');

async function describedRoutes(api: TestApi): Promise<Set<string>> {
  const document = (await call(api.url, 'GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  const described = new Set<string>();
  for (const [path, item] of Object.entries(document.paths)) for (const method of Object.keys(item)) described.add(`${method} ${path}`);
  return described;
}

describe.each([
  ['COMPAT_ICTVOIP=1', { COMPAT_ICTVOIP: '1' }],
  ['ictVoIP endpoints off', {}],
])('%s', (_name, env) => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi(env);
  }, 60_000);

  afterAll(async () => {
    await api?.close();
  });

  it('every route served is described, and every route described is served', async () => {
    const served = new Set([...servedRoutes(api)].map(sameRoute));
    const described = new Set([...(await describedRoutes(api))].map(sameRoute));
    expect([...served].filter((route) => !described.has(route)).sort()).toEqual([]);
    expect([...described].filter((route) => !served.has(route)).sort()).toEqual([]);
  });
});
