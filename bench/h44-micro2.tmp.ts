import { diffReply } from '../packages/freeswitch/src/status/registrations-diff';
import { diffReply as oldDiff } from '../packages/freeswitch/src/status/old-diff.tmp';
import { steadyReplyOf } from '../packages/freeswitch/src/status/registrations-steady';
import { monitoredRegistrationsXml } from './registrations/generator';
const a = Buffer.from(monitoredRegistrationsXml(500, 20, new Set(), 11, 1, 0));
const b = Buffer.from(monitoredRegistrationsXml(500, 20, new Set(), 11, 2, 1));
const s = Buffer.from(monitoredRegistrationsXml(500, 20, new Set(), 11, 2, 0));
const ia = steadyReplyOf(a)!;
for (let round = 0; round < 3; round += 1)
for (const [name, fn] of [['new', diffReply], ['old', oldDiff]] as const) {
  for (const [what, next] of [['refresh', b], ['steady', s]] as const) {
  let d = null;
  const t = process.hrtime.bigint();
  for (let i = 0; i < 20; i += 1) d = fn(ia, next, 'internal', 2500);
  console.log(name, what, (Number(process.hrtime.bigint() - t) / 20e6).toFixed(1), 'ms', d && d.changed.length);
  }
}
