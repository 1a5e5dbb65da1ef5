import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '@ictvoip/testkit';
import { diffReply, parseRegistrationsXml, type Registration, type ReplyDiff, steadyReplyOf } from '../src';

/**
 * diffReply (issue 18): a reply lined up with the last one block by block. Blocks that stay (byte for
 * byte but for expsecs and ping time) are kept, the others reported as removed from the last reply or
 * inserted in the new one; the new reply's index is the one steadyReplyOf builds, and every inserted
 * block reads as the full parse reads it.
 */

/** A real FreeSWITCH 1.10 capture of `sofia xmlstatus profile internal reg`. */
const CAPTURE = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(CAPTURE)![0];

/** A phone's registration: `id` names its user, `call` its call-id (a new one when it registers again), `exp` what FreeSWITCH stored at its last refresh. */
interface Phone {
  id: number;
  call?: string;
  exp?: string;
}

function block(phone: Phone, poll: number, position: number): string {
  return BLOCK.replace(/999/g, String(100 + phone.id))
    .replace('G6sckKCTIN', `call-${phone.id}-${phone.call ?? 'a'}`)
    .replace('<agent>', phone.id % 7 === 0 ? '<agent>Tom &amp; Jerry &lt;SIP&gt; Zoë ' : '<agent>')
    .replace('exp(2025-05-13 18:29:38)', `exp(${phone.exp ?? '2025-05-13 18:29:38'})`)
    .replace('expsecs(3598)', `expsecs(${(3598 - poll * 60 - position + 7200) % 3600})`)
    .replace('<ping-time>0.00</ping-time>', `<ping-time>${(poll * 13 + position * 7) % 90}.25</ping-time>`)
    .replace(/\s*<ping-status>[^<]*<\/ping-status>\s*<ping-time>[^<]*<\/ping-time>/, phone.id % 5 === 0 ? '' : '$&');
}

function reply(phones: readonly Phone[], poll: number): Buffer {
  const blocks = phones.map((phone, position) => block(phone, poll, position));
  return Buffer.from(CAPTURE.replace(/<registrations>[\s\S]*<\/registrations>/, `<registrations>\n    ${blocks.join('\n    ')}\n  </registrations>`));
}

const phones = (count: number): Phone[] => Array.from({ length: count }, (_, id) => ({ id }));

/** A registration but for what counts down or is re-measured between polls. */
function kept(registration: Registration): Omit<Registration, 'rawStatus' | 'expiresInSeconds' | 'pingTimeMs'> {
  const { rawStatus: _raw, expiresInSeconds: _seconds, pingTimeMs: _ping, ...rest } = registration;
  return rest;
}

/**
 * The diff of poll 2's reply against poll 1's, held to what a full read of both says: the new index
 * is steadyReplyOf's, an inserted block parses as the full parse reads it, a kept block is the same
 * registration but for volatile values, a removed block's place is between the kept blocks around it.
 */
function diffOf(last: readonly Phone[], next: readonly Phone[], maxChanged = 64): ReplyDiff | null {
  const lastBytes = reply(last, 1);
  const nextBytes = reply(next, 2);
  const diff = diffReply(steadyReplyOf(lastBytes)!, nextBytes, 'internal', maxChanged);
  if (!diff) return null;
  const fresh = steadyReplyOf(nextBytes)!;
  expect({ blocks: [...diff.next.blocks], ranges: [...diff.next.ranges], firstRange: [...diff.next.firstRange] }).toEqual({
    blocks: [...fresh.blocks],
    ranges: [...fresh.ranges],
    firstRange: [...fresh.firstRange],
  });
  const lastParsed = parseRegistrationsXml(lastBytes.toString('utf8'), 'internal');
  const nextParsed = parseRegistrationsXml(nextBytes.toString('utf8'), 'internal');
  for (const { index, registration } of diff.changed) expect(registration).toEqual(nextParsed[index]);
  const inserted = new Set(diff.changed.map((change) => change.index));
  const removed = new Set(diff.removed);
  const keptAt = [...diff.positions].filter((position) => position >= 0);
  // Every block of the new reply is kept or inserted, once; kept blocks in their old order.
  expect([...keptAt, ...inserted].sort((a, b) => a - b)).toEqual(nextParsed.map((_, index) => index));
  expect(keptAt).toEqual([...keptAt].sort((a, b) => a - b));
  diff.positions.forEach((position, block) => {
    expect(position < 0).toBe(removed.has(block));
    if (position >= 0) expect(kept(nextParsed[position]!)).toEqual(kept(lastParsed[block]!));
    else {
      const place = -1 - position;
      diff.positions.forEach((other, otherBlock) => other >= 0 && expect(other >= place).toBe(otherBlock > block));
    }
  });
  return diff;
}

const summary = (diff: ReplyDiff | null) => diff && { removed: diff.removed, inserted: diff.changed.map((change) => change.index) };

describe('diffReply', () => {
  const ten = phones(10);

  it('keeps every block of a reply that changed only in volatile values', () => {
    const diff = diffOf(ten, ten);
    expect(summary(diff)).toEqual({ removed: [], inserted: [] });
    expect([...diff!.positions]).toEqual(ten.map((_, index) => index));
  });

  it('reports a block whose kept text changed (a new exp, a status no longer canonical) as removed and inserted in its place', () => {
    const next = ten.map((phone) => (phone.id === 3 ? { ...phone, exp: '2025-05-13 19:29:38' } : phone));
    const diff = diffOf(ten, next);
    expect(summary(diff)).toEqual({ removed: [3], inserted: [3] });
    expect(diff!.changed[0]!.registration).toMatchObject({ extension: '103', expires: '2025-05-13 19:29:38' });
    expect(diff!.positions[3]).toBe(-1 - 4);
    // expsecs(…) without digits: not a volatile value any more, so the block is another one.
    const last = reply(ten, 1);
    const odd = Buffer.from(
      reply(ten, 2)
        .toString('latin1')
        .replace(/expsecs\(\d+\)/, 'expsecs(soon)'),
      'latin1',
    );
    expect(summary(diffReply(steadyReplyOf(last)!, odd, 'internal', 64))).toEqual({ removed: [0], inserted: [0] });
  });

  it('lines up a block inserted first, in the middle and last', () => {
    expect(summary(diffOf(ten, [{ id: 50 }, ...ten]))).toEqual({ removed: [], inserted: [0] });
    expect(summary(diffOf(ten, [...ten.slice(0, 4), { id: 50 }, ...ten.slice(4)]))).toEqual({ removed: [], inserted: [4] });
    expect(summary(diffOf(ten, [...ten, { id: 50 }, { id: 51 }]))).toEqual({ removed: [], inserted: [10, 11] });
  });

  it('lines up a block removed first, in the middle and last, and a reply whose blocks all went but one', () => {
    expect(summary(diffOf(ten, ten.slice(1)))).toEqual({ removed: [0], inserted: [] });
    expect(summary(diffOf(ten, [...ten.slice(0, 6), ...ten.slice(7)]))).toEqual({ removed: [6], inserted: [] });
    expect(summary(diffOf(ten, ten.slice(0, 9)))).toEqual({ removed: [9], inserted: [] });
    expect(summary(diffOf(ten, ten.slice(4, 5)))).toEqual({ removed: [0, 1, 2, 3, 5, 6, 7, 8, 9], inserted: [] });
  });

  it('lines up runs of blocks removed or inserted (an office going offline, coming back) by their call-ids', () => {
    const forty = phones(40);
    expect(summary(diffOf(forty, [...forty.slice(0, 10), ...forty.slice(22)]))).toEqual({ removed: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], inserted: [] });
    const back = Array.from({ length: 9 }, (_, index) => ({ id: 60 + index }));
    expect(summary(diffOf(forty, [...forty.slice(0, 30), ...back, ...forty.slice(30)]))).toEqual({ removed: [], inserted: [30, 31, 32, 33, 34, 35, 36, 37, 38] });
  });

  it('reports a phone registering again with a new call-id (its row deleted, a new one last) as removed and inserted last', () => {
    const next = [...ten.slice(0, 2), ...ten.slice(3), { id: 2, call: 'b' }];
    expect(summary(diffOf(ten, next))).toEqual({ removed: [2], inserted: [9] });
  });

  it('answers null for what it cannot line up: more changes than allowed, another header or trailer, text between blocks, a block the flat scanner does not read, no block to start from', () => {
    expect(diffOf(ten, [...ten].reverse(), 4)).toBeNull();
    expect(diffOf(ten, [...ten].reverse())).not.toBeNull();
    const last = steadyReplyOf(reply(ten, 1))!;
    const next = reply([...ten, { id: 50 }], 2).toString('latin1');
    const variant = (from: string, to: string) => diffReply(last, Buffer.from(next.replace(from, to), 'latin1'), 'internal', 64);
    expect(variant('<profile>', '<profile >')).toBeNull();
    expect(variant('</profile>', '</profile>\n')).toBeNull();
    expect(variant('</registration>\n    <registration>', '</registration>\n x <registration>')).toBeNull();
    expect(variant('<user>150@', '<user>&#49;50@')).toBeNull();
    expect(variant('<user>150@', '<user><!-- -->150@')).toBeNull();
    // Other blanks between blocks are still blanks (the full parse skips them too): every block kept.
    expect(summary(variant('</registration>\n    <registration>', '</registration>\n\t<registration>'))).toEqual({ removed: [], inserted: [10] });
    const empty = steadyReplyOf(Buffer.from(CAPTURE.replace(/<registrations>[\s\S]*<\/registrations>/, '<registrations>\n  </registrations>')))!;
    expect(diffReply(empty, reply(ten, 2), 'internal', 64)).toBeNull();
    // A profile with no phone, polled again: nothing changed.
    const again = diffReply(empty, Buffer.from(empty.bytes), 'internal', 64);
    expect(again && { ...summary(again), blocks: again.next.blocks.length }).toEqual({ removed: [], inserted: [], blocks: 0 });
  });

  it('is exact on random sequences of refreshes, losses, runs, restores, moves and reorderings', () => {
    const random = seededRandom(44);
    let current = phones(30);
    let nextId = 100;
    let lined = 0;
    for (let round = 0; round < 150; round += 1) {
      let next = [...current];
      const changes = 1 + Math.floor(random() * 4);
      for (let change = 0; change < changes; change += 1) {
        const roll = random();
        const at = Math.floor(random() * next.length);
        if (roll < 0.25 && next.length > 0) next[at] = { ...next[at]!, exp: `2025-06-0${1 + Math.floor(random() * 9)} 10:00:00` };
        else if (roll < 0.45 && next.length > 1) next.splice(at, 1 + Math.floor(random() * 6));
        else if (roll < 0.65) next.splice(at, 0, ...Array.from({ length: 1 + Math.floor(random() * 6) }, () => ({ id: nextId++ % 400 })));
        else if (roll < 0.8 && next.length > 0) next = [...next.slice(0, at), ...next.slice(at + 1), { ...next[at]!, call: `r${round}` }];
        else if (roll < 0.85) next.reverse();
      }
      if (next.length === 0) next = phones(5);
      const diff = diffOf(current, next);
      if (diff) lined += 1;
      current = next;
    }
    // Only a reply with more changes than allowed is left to the full parse.
    expect(lined).toBeGreaterThan(140);
  });
});
