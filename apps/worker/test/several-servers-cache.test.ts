import pino from 'pino';
import { startApi } from '@ictvoip/api';
import { loadConfig } from '@ictvoip/config';
import { FusionServersRepository } from '@ictvoip/store';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { call, createKey } from '../../api/test/v1-helpers';
import { startWorker } from '../src';
import { startBridge, startSecondFusionServer, type Bridge, type SecondFusionServer } from './harness';

/**
 * Each registered FusionPBX server clears its cache with its own method (`servers add --cache-method`),
 * the bridge-wide FUSIONPBX_CACHE_METHOD (memcache here) being for the default server and for the
 * registered servers without one. "pbx-esl" says file-esl; "pbx-plain" says nothing (as every server
 * registered before the per-server method).
 */
const ESL_PASSWORD = 'Cache-Esl-Secret-5521';
const CLEAR_CACHE = 'lua app/servers/resources/clear_cache.lua delete';

let bridge: Bridge;
let withEsl: SecondFusionServer;
let plain: SecondFusionServer;
let adminKey: string;

beforeAll(async () => {
  bridge = await startBridge({}, { logLevel: 'info' });
  [withEsl, plain] = await Promise.all([startSecondFusionServer(ESL_PASSWORD), startSecondFusionServer(ESL_PASSWORD)]);
  await bridge.startApi();
  const registry = new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing);
  const connection = (server: SecondFusionServer) => ({ databaseUrl: server.db.url, eslHost: server.esl.host, eslPort: server.esl.port, eslPassword: ESL_PASSWORD });
  await registry.add({ name: 'pbx-esl', ...connection(withEsl), whmcsServerId: 12, cacheMethod: 'file-esl' });
  await registry.add({ name: 'pbx-plain', ...connection(plain), whmcsServerId: 13 });
  await bridge.startWorker({ schedulers: false });
  adminKey = await createKey(bridge.url, bridge.config.adminToken, { name: 'ops', scope: 'admin', access: 'read-write' });
});
afterAll(async () => {
  await bridge.close();
  await Promise.all([withEsl.close(), plain.close()]);
});

function event(serviceId: number, action: string, server: Record<string, unknown>) {
  const base = buildEvent({ serviceId, action });
  if (action !== 'create' && action !== 'change_password') delete base.secrets;
  base.server = server;
  return base;
}

const send = (body: Record<string, unknown>) => postWebhook(bridge.url, JSON.stringify(body), { query: '?wait=20' });
const cacheCommands = (commands: readonly string[]) => commands.filter((command) => command.startsWith('memcache ') || command.startsWith(CLEAR_CACHE));

describe('a cache method per registered FusionPBX server', () => {
  const onEsl = 9301;
  const onPlain = 9302;
  const eslDomain = `t${onEsl}.pbx.example.net`;
  const plainDomain = `t${onPlain}.pbx.example.net`;

  it("clears a server's cache over its own event socket with its own method after a suspend, never with the bridge-wide one", async () => {
    expect((await send(event(onEsl, 'create', { id: 12 }))).body.result).toBe('success');
    withEsl.esl.clearRecorded();
    bridge.esl.clearRecorded();
    expect((await send(event(onEsl, 'suspend', { id: 12 }))).body.result).toBe('success');
    const commands = cacheCommands(withEsl.esl.apiCommands);
    expect(commands).toEqual(expect.arrayContaining([`${CLEAR_CACHE} directory.100@${eslDomain}`]));
    expect(commands.filter((command) => command.startsWith('memcache '))).toEqual([]);
    expect(bridge.esl.apiCommands.filter((command) => command.includes(eslDomain))).toEqual([]);
    expect((await send(event(onEsl, 'unsuspend', { id: 12 }))).body.result).toBe('success');
  });

  it("clears the extension's directory entry with the server's method after an extension change", async () => {
    const service = await call(bridge.url, 'GET', `/v1/tenants/${onEsl}`, { token: adminKey });
    expect(service.status).toBe(200);
    withEsl.esl.clearRecorded();
    const reply = await call(bridge.url, 'PUT', `/v1/tenants/${onEsl}/extensions/101?wait=20`, { token: adminKey, body: { enabled: false } });
    expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 200 });
    const commands = cacheCommands(withEsl.esl.apiCommands);
    expect(commands).toEqual(expect.arrayContaining([`${CLEAR_CACHE} directory.101@${eslDomain}`]));
    expect(commands.filter((command) => command.startsWith('memcache '))).toEqual([]);
  });

  it('describes the server-own method in dry runs (webhook and REST)', async () => {
    const preview = await postWebhook(bridge.url, JSON.stringify(event(9303, 'create', { id: 12 })), { query: '?dryRun=1' });
    expect(preview.body.result).toBe('dry_run');
    expect(preview.body.eslCommands).toEqual(expect.arrayContaining([`${CLEAR_CACHE} dialplan.t9303.pbx.example.net`]));
    expect((preview.body.eslCommands as string[]).filter((command) => command.startsWith('memcache '))).toEqual([]);
    const rest = await call(bridge.url, 'PUT', `/v1/tenants/${onEsl}/extensions/102?dryRun=1`, { token: adminKey, body: { enabled: false } });
    expect({ status: rest.status, body: rest.body }).toMatchObject({ status: 200 });
    expect(JSON.stringify(rest.body)).toContain(`${CLEAR_CACHE} directory.102@${eslDomain}`);
  });

  it('a server without a method of its own follows FUSIONPBX_CACHE_METHOD, as before', async () => {
    expect((await send(event(onPlain, 'create', { id: 13 }))).body.result).toBe('success');
    plain.esl.clearRecorded();
    expect((await send(event(onPlain, 'suspend', { id: 13 }))).body.result).toBe('success');
    const commands = cacheCommands(plain.esl.apiCommands);
    expect(commands).toEqual(expect.arrayContaining([`memcache delete directory:100@${plainDomain}`]));
    expect(commands.filter((command) => command.startsWith(CLEAR_CACHE))).toEqual([]);
  });

  it('an edit of the method reaches the running processes without a restart', async () => {
    const registry = new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing);
    await registry.update('pbx-plain', { cacheMethod: 'file-esl' });
    plain.esl.clearRecorded();
    expect((await send(event(onPlain, 'unsuspend', { id: 13 }))).body.result).toBe('success');
    const commands = cacheCommands(plain.esl.apiCommands);
    expect(commands).toEqual(expect.arrayContaining([`${CLEAR_CACHE} directory.100@${plainDomain}`]));
    expect(commands.filter((command) => command.startsWith('memcache '))).toEqual([]);
  });

  it('with FUSIONPBX_CACHE_METHOD=file, the API and the worker warn at start-up about each registered server that has no method of its own', async () => {
    // Stored before the per-server method (or without FUSIONPBX_CACHE_METHOD at hand): NULL.
    const registry = new FusionServersRepository(bridge.api!.deps.pool, bridge.config.sealing);
    await registry.add({ name: 'pbx-legacy', databaseUrl: plain.db.url, eslHost: plain.esl.host, eslPort: plain.esl.port, eslPassword: ESL_PASSWORD, enabled: false });
    const config = loadConfig({ ...bridge.env, FUSIONPBX_CACHE_METHOD: 'file' });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const api = await startApi(config, logger, { port: 0 });
    const worker = await startWorker(config, logger, { schedulers: false });
    await Promise.all([worker.close(), api.close()]);
    await registry.remove('pbx-legacy');
    const warnings = lines
      .map((line) => JSON.parse(line) as { level: number; server?: string; msg: string })
      .filter((record) => record.level === 40 && record.server !== undefined);
    // Once from each process, for the one server without a method; pbx-esl and pbx-plain have theirs.
    expect(warnings.map((record) => record.server)).toEqual(['pbx-legacy', 'pbx-legacy']);
    expect(warnings[0]!.msg).toContain('ictvoip servers update pbx-legacy --cache-method file-esl');
  });
});
