import { coalesceSteps, type FreeswitchStep } from '../src';

const GATEWAY = '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const start: FreeswitchStep = { kind: 'gateway_start', profile: 'external', gatewayUuid: GATEWAY };
const kill: FreeswitchStep = { kind: 'gateway_kill', profile: 'external', gatewayUuid: GATEWAY };
const dialplan: FreeswitchStep = { kind: 'cache_delete', key: 'dialplan:t1.example.net' };
const directory: FreeswitchStep = { kind: 'cache_delete', key: 'directory:100@t1.example.net' };
const rescan: FreeswitchStep = { kind: 'sofia_rescan', profile: 'external' };

describe('coalesceSteps', () => {
  it('keeps each repeated step once, at its last place (a rescan stays after the deletes it needs)', () => {
    expect(coalesceSteps([dialplan, rescan, directory], [dialplan, { kind: 'sofia_conf_cache_delete' }, rescan])).toEqual([
      directory,
      dialplan,
      { kind: 'sofia_conf_cache_delete' },
      rescan,
    ]);
  });

  it('a later kill supersedes an earlier start of the same gateway; a start after a kill reloads it', () => {
    expect(coalesceSteps([start, dialplan], [kill])).toEqual([dialplan, kill]);
    expect(coalesceSteps([kill], [start])).toEqual([kill, start]);
    expect(coalesceSteps([start, kill], [start, kill])).toEqual([kill]);
  });

  it('treats steps read back with their keys in another order as the same step', () => {
    const reordered = JSON.parse('{"gatewayUuid":"' + GATEWAY + '","profile":"external","kind":"gateway_start"}') as FreeswitchStep;
    expect(coalesceSteps([reordered], [start])).toEqual([start]);
  });

  it('leaves another gateway alone', () => {
    const other: FreeswitchStep = { kind: 'gateway_start', profile: 'external', gatewayUuid: '9f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f' };
    expect(coalesceSteps([other], [kill])).toEqual([other, kill]);
  });
});
