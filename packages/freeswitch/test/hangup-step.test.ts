/**
 * The `hangup_calls` step ends a domain's calls in progress as FusionPBX's active-calls page does
 * (`show channels as json`, the channel's domain from its context or presence_id, `uuid_kill` each),
 * sparing every call one of whose legs dials an emergency number; validated like every value that
 * reaches the event socket, and answered by the stand-in the way FreeSWITCH 1.10 does.
 */
import { startEslStandin, type EslStandin } from '@ictvoip/testkit';
import {
  applyFreeswitchSide,
  coalesceSteps,
  describeFreeswitchSide,
  domainOfChannel,
  EslClient,
  EslCommandError,
  FreeswitchValidationError,
  numbersOfDialString,
  parseChannelList,
  validateStep,
  type FreeswitchStep,
} from '@ictvoip/freeswitch';

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
afterEach(() => {
  standin.beforeAnswer = null;
  standin.failures.length = 0;
  for (const uuid of standin.channels.keys()) standin.endChannel(uuid);
  standin.clearRecorded();
});

const CAUSE = 'FACILITY_NOT_SUBSCRIBED';
const hangup = (domain: string, cause = CAUSE): FreeswitchStep => ({ kind: 'hangup_calls', domain, cause });
const apply = (steps: FreeswitchStep[]) => applyFreeswitchSide(esl, steps, { cache: { method: 'memcache' } });
const causesOf = (uuids: readonly string[]) => uuids.map((uuid) => standin.hangupCauseOf(uuid));
const GATEWAY = 'sofia/gateway/0e5b6a2c-7a0e-4c2b-9a55-3f1b2c4d5e6f';

/** An extension of `domain` calling out through the tenant's gateway: a-leg from the phone, b-leg to the carrier. */
function outboundCall(domain: string, dialled: string, carrierNumber = dialled): [string, string] {
  return standin.addBridgedCall(
    {
      context: domain,
      dest: dialled,
      cid_num: '100',
      presence_id: `100@${domain}`,
      callee_num: carrierNumber,
      application: 'bridge',
      application_data: `${GATEWAY}/${carrierNumber}`,
    },
    { context: domain, dest: carrierNumber, cid_num: '100', name: `sofia/external/${carrierNumber}` },
  );
}

test("kills every channel of the domain's ordinary calls with the cause, spares its emergency calls (both legs) and other domains' calls", async () => {
  const domain = 't1.example.net';
  const paid = outboundCall(domain, '12125550100');
  const internal = standin.addBridgedCall({ context: domain, dest: '101', presence_id: `100@${domain}` }, { context: domain, dest: '101', presence_id: `101@${domain}` });
  // An inbound call still in the public context: FusionPBX's page knows its domain by presence_id.
  const ringing = standin.addChannel({ context: 'public', dest: '12125550199', presence_id: `101@${domain}` });
  const emergency = outboundCall(domain, '911');
  // `^9(911)$`: the phone dialled 9911, the carrier leg dials 911; only the carrier leg says so, and
  // bridged, both legs share call_uuid.
  const prefixed = standin.addBridgedCall({ context: domain, dest: '9911', presence_id: `100@${domain}` }, { context: domain, dest: '911' });
  // The same while the 911 leg still rings: the legs are not linked yet, the a-leg's bridge names 911.
  const prefixedRinging = standin.addChannel({ context: domain, dest: '9911', application: 'bridge', application_data: `{ignore_early_media=true}${GATEWAY}/911` });
  const carrierRinging = standin.addChannel({ context: domain, dest: '911', direction: 'outbound' });
  const others = [...outboundCall('t10.example.net', '12125550100'), ...outboundCall(`x.${domain}`, '12125550100'), standin.addChannel({ context: 'public', dest: '12125550100' })];

  const result = await apply([hangup(domain)]);

  expect(causesOf([...paid, ...internal, ringing])).toEqual(Array(5).fill(CAUSE));
  expect(causesOf([...emergency, ...prefixed, prefixedRinging, carrierRinging])).toEqual(Array(6).fill(null));
  expect(causesOf(others)).toEqual(Array(5).fill(null));
  expect(result.actions[0]).toBe('show channels as json');
  const killed = result.actions.slice(1);
  expect(killed.every((action) => /^uuid_kill \S+ FACILITY_NOT_SUBSCRIBED$/.test(action))).toBe(true);
  expect(new Set(killed.map((action) => action.split(' ')[1]))).toEqual(new Set([...paid, ...internal, ringing]));
  expect(standin.apiCommands.filter((command) => command.startsWith('hupall'))).toEqual([]);
});

test('a channel that ended between the listing and its kill (FreeSWITCH: -ERR No such channel!) is no failure; run again, nothing is left to kill', async () => {
  const domain = 't2.example.net';
  const hungUp = outboundCall(domain, '12125550100');
  const other = outboundCall(domain, '12125550101');
  let ended = false;
  standin.beforeAnswer = async (command) => {
    if (!ended && hungUp.some((uuid) => command.startsWith(`uuid_kill ${uuid}`))) {
      ended = true;
      standin.endChannel(hungUp[0]);
      standin.endChannel(hungUp[1]);
    }
  };
  const result = await apply([hangup(domain)]);
  expect(ended).toBe(true);
  expect(result.actions.filter((action) => action.startsWith('uuid_kill'))).toHaveLength(4);
  expect(causesOf(hungUp)).toEqual(['NORMAL_CLEARING', 'NORMAL_CLEARING']);
  expect(causesOf(other)).toEqual([CAUSE, CAUSE]);

  standin.clearRecorded();
  expect((await apply([hangup(domain)])).actions).toEqual(['show channels as json']);
});

test('any other -ERR fails the step (the backlog retries it); so does a listing FreeSWITCH could not give', async () => {
  const domain = 't3.example.net';
  const [a] = outboundCall(domain, '12125550100');
  standin.fail(new RegExp(`^uuid_kill ${a}`), 'something else');
  await expect(apply([hangup(domain)])).rejects.toThrow(EslCommandError);
  standin.failures.length = 0;
  standin.fail('show channels as json', 'SQL Error [database is locked]');
  await expect(apply([hangup(domain)])).rejects.toThrow(/show channels as json/);
});

test('the stand-in answers as FreeSWITCH 1.10: the listing with and without channels, uuid_kill +OK / -ERR No such channel!', async () => {
  expect(await esl.api('show channels as json')).toBe('{"row_count": 0}\n');
  expect(parseChannelList('{"row_count": 0}\n')).toEqual([]);
  const uuid = standin.addChannel({ context: 't4.example.net', dest: '101' });
  const listing = await esl.api('show channels as json');
  const parsed = JSON.parse(listing);
  expect(parsed.row_count).toBe(1);
  expect(Object.keys(parsed.rows[0]).slice(0, 12)).toEqual([
    'uuid',
    'direction',
    'created',
    'created_epoch',
    'name',
    'state',
    'cid_name',
    'cid_num',
    'ip_addr',
    'dest',
    'application',
    'application_data',
  ]);
  expect(parseChannelList(listing).map((row) => [row.uuid, row.context, row.dest])).toEqual([[uuid, 't4.example.net', '101']]);
  expect(await esl.api(`uuid_kill ${uuid} facility_not_subscribed`)).toBe('+OK\n');
  expect(standin.hangupCauseOf(uuid)).toBe(CAUSE);
  expect(await esl.api(`uuid_kill ${uuid} ${CAUSE}`, { allowErr: true })).toBe('-ERR No such channel!\n');
});

test("a channel's domain is worked out as FusionPBX's calls_active_inc.php does; a dial string's numbers as sofia sets the new leg's destination", () => {
  expect(domainOfChannel({ context: 'a.example.net', presence_id: '100@b.example.net' })).toBe('a.example.net');
  expect(domainOfChannel({ context: 'user@a.example.net' })).toBe('a.example.net');
  expect(domainOfChannel({ context: 'public', presence_id: '100@b.example.net' })).toBe('b.example.net');
  expect(domainOfChannel({ context: 'default', presence_id: '' })).toBeNull();
  expect(numbersOfDialString(`{a=b}[c=d]${GATEWAY}/911,user/112@x.example.net|sofia/internal/999@10.0.0.1:5060:_:loopback/933`)).toEqual(['911', '112', '999', '933']);
  expect(() => parseChannelList('-ERR SQL Error')).toThrow(/did not answer with a channel list/);
});

test.each([
  ['a domain with a line break', hangup('t1.example.net\n\napi fsctl shutdown')],
  ['a domain with a space', hangup('t1.example.net uuid x')],
  ['no domain', hangup('')],
  ['a cause with a space (a second command argument)', hangup('t1.example.net', 'NORMAL_CLEARING x')],
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
    'show channels as json',
    'uuid_kill {each channel of t1.example.net, emergency calls spared} FACILITY_NOT_SUBSCRIBED',
  ]);
});
