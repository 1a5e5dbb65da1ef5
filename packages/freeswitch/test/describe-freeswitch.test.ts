import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EslStandin, startEslStandin } from '@ictvoip/testkit';
import {
  EslClient,
  SWITCHNAME_PLACEHOLDER,
  applyFreeswitchSide,
  describeFreeswitchSide,
  type CacheOptions,
  type FreeswitchStep,
  FreeswitchValidationError,
  EslCommandError,
} from '@ictvoip/freeswitch';

// The dry-run's command list must be exactly what a real apply sends, for every cache method.

const GATEWAY = '2f1e7a54-3c1b-4d0e-9a6f-5b8c7d6e5f40';
const STEPS: FreeswitchStep[] = [
  { kind: 'cache_delete', key: 'directory:100@t1.pbx.test' },
  { kind: 'sofia_conf_cache_delete' },
  { kind: 'gateway_kill', profile: 'external', gatewayUuid: GATEWAY },
  { kind: 'gateway_start', profile: 'external', gatewayUuid: GATEWAY },
  { kind: 'sofia_rescan', profile: 'external' },
  { kind: 'flush_registration', profile: 'internal', user: '100@t1.pbx.test' },
  { kind: 'sofia_conf_cache_delete' },
  // Access Controls changed (IP trunks): the acl.conf cache key, then reloadacl.
  { kind: 'cache_delete', key: 'configuration:acl.conf' },
  { kind: 'reload_acl' },
];

let standin: EslStandin;
let esl: EslClient;
let dir: string;

beforeAll(async () => {
  standin = await startEslStandin();
  esl = new EslClient({ host: standin.host, port: standin.port, password: 'ClueCon', commandTimeoutMs: 1000 });
  dir = await mkdtemp(path.join(tmpdir(), 'ictvoip-describe-'));
});

afterAll(async () => {
  await esl.close();
  await standin.stop();
  await rm(dir, { recursive: true, force: true });
});

test.each<[string, CacheOptions]>([
  ['memcache', { method: 'memcache' }],
  ['file-esl', { method: 'file-esl' }],
  ['file', { method: 'file' }],
])('describeFreeswitchSide lists what applyFreeswitchSide does (%s), without a connection', async (_name, cache) => {
  // The file method unlinks under a scratch folder here, never under /var/cache.
  const options = { cache: cache.method === 'file' ? { method: 'file' as const, location: dir } : cache };
  const described = describeFreeswitchSide(STEPS, options);
  expect(standin.received).toHaveLength(0);
  const { actions } = await applyFreeswitchSide(esl, STEPS, options);
  const switchname = (await esl.api('switchname')).trim();
  expect(described.map((action) => action.replace(SWITCHNAME_PLACEHOLDER, switchname))).toEqual(actions);
  expect(described.filter((action) => action === 'switchname')).toHaveLength(1);
  standin.clearRecorded();
});

test('a step that could break out of its command is refused as by a real apply', () => {
  expect(() => describeFreeswitchSide([{ kind: 'sofia_rescan', profile: 'external rescan' }], { cache: { method: 'memcache' } })).toThrow(FreeswitchValidationError);
});

test('reload_acl sends reloadacl; FreeSWITCH refusing it fails the apply', async () => {
  standin.clearRecorded();
  const { actions } = await applyFreeswitchSide(esl, [{ kind: 'reload_acl' }], { cache: { method: 'memcache' } });
  expect(actions).toEqual(['reloadacl']);
  expect(standin.apiCommands).toEqual(['reloadacl']);
  standin.fail('reloadacl', 'Acl reload failed');
  await expect(applyFreeswitchSide(esl, [{ kind: 'reload_acl' }], { cache: { method: 'memcache' } })).rejects.toBeInstanceOf(EslCommandError);
  standin.failures.length = 0;
});
