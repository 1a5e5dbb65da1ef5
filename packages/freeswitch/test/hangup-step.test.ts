/**
 * The `hangup_calls` step: `hupall <cause> domain_name <domain>` as mod_commands takes it, validated
 * like every value that reaches the event socket, and answered by the stand-in the way FreeSWITCH does.
 */
import { startEslStandin, type EslStandin } from '@ictvoip/testkit';
import { applyFreeswitchSide, coalesceSteps, describeFreeswitchSide, EslClient, FreeswitchValidationError, validateStep, type FreeswitchStep } from '@ictvoip/freeswitch';

let standin: EslStandin;
let esl: EslClient;

beforeAll(async () => {
  standin = await startEslStandin();
  esl = new EslClient({ host: standin.host, port: standin.port, password: 'ClueCon', commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
});
afterAll(async () => {
  await esl.close();
  await standin.stop();
});

const hangup = (domain: string, cause = 'FACILITY_NOT_SUBSCRIBED'): FreeswitchStep => ({ kind: 'hangup_calls', domain, cause });

test('ends exactly the calls whose domain_name is the domain, with the cause given; FreeSWITCH answers +OK', async () => {
  const mine = [standin.addChannel({ domain_name: 't1.example.net' }), standin.addChannel({ domain_name: 't1.example.net', presence_id: '101@t1.example.net' })];
  const other = standin.addChannel({ domain_name: 't10.example.net' });
  const unset = standin.addChannel({});
  const result = await applyFreeswitchSide(esl, [hangup('t1.example.net')], { cache: { method: 'memcache' } });
  expect(result.actions).toEqual(['hupall FACILITY_NOT_SUBSCRIBED domain_name t1.example.net']);
  expect(mine.map((uuid) => standin.hangupCauseOf(uuid))).toEqual(['FACILITY_NOT_SUBSCRIBED', 'FACILITY_NOT_SUBSCRIBED']);
  expect([standin.hangupCauseOf(other), standin.hangupCauseOf(unset)]).toEqual([null, null]);
  // mod_commands' reply, also when nothing matched (the calls ended already).
  expect(await esl.api('hupall FACILITY_NOT_SUBSCRIBED domain_name t1.example.net')).toBe(
    '+OK hangup all channels matching [domain_name]=[t1.example.net] with cause: FACILITY_NOT_SUBSCRIBED\n',
  );
});

test('the stand-in is as lenient as FreeSWITCH: an unknown cause hangs up with MANAGER_REQUEST', async () => {
  const call = standin.addChannel({ domain_name: 't2.example.net' });
  expect(await esl.api('hupall NOT_A_CAUSE domain_name t2.example.net')).toBe('+OK hangup all channels matching [domain_name]=[t2.example.net] with cause: MANAGER_REQUEST\n');
  expect(standin.hangupCauseOf(call)).toBe('MANAGER_REQUEST');
});

test.each([
  ['a domain with a line break (a second command)', hangup('t1.example.net\n\napi fsctl shutdown')],
  ['a domain with a space (a second variable pair)', hangup('t1.example.net uuid x')],
  ['no domain (hupall without a pair ends every call of the switch)', hangup('')],
  ['a cause with a space', hangup('t1.example.net', 'NORMAL_CLEARING domain_name')],
  ['a numeric cause (FreeSWITCH reads it as a Q.850 number)', hangup('t1.example.net', '16')],
])('refuses %s before anything is sent', (_label, step) => {
  expect(() => validateStep(step)).toThrow(FreeswitchValidationError);
});

test('stays after the steps that stop new calls, in the dry-run too', () => {
  const suspend: FreeswitchStep[] = [{ kind: 'cache_delete', key: 'dialplan:t1.example.net' }, hangup('t1.example.net')];
  const again: FreeswitchStep[] = [{ kind: 'cache_delete', key: 'directory:100@t1.example.net' }, hangup('t1.example.net')];
  const merged = coalesceSteps(suspend, again);
  expect(merged[merged.length - 1]).toEqual(hangup('t1.example.net'));
  expect(merged.filter((step) => step.kind === 'hangup_calls')).toHaveLength(1);
  expect(describeFreeswitchSide(merged, { cache: { method: 'memcache' } })).toEqual([
    'memcache delete dialplan:t1.example.net',
    'memcache delete directory:100@t1.example.net',
    'hupall FACILITY_NOT_SUBSCRIBED domain_name t1.example.net',
  ]);
});
