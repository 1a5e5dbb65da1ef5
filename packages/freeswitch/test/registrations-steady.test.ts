import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '@ictvoip/testkit';
import { EslFrameParser, parseRegistrationsXml, type Registration, RegistrationsReplyCache, sameButVolatile, steadyReplyOf } from '../src';

/** A real FreeSWITCH 1.10 capture of `sofia xmlstatus profile internal reg`. */
const CAPTURE = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(CAPTURE)![0];

/** The capture with `count` phones: entities and a UTF-8 agent, old builds without ping fields, a registration past its expiry. */
function reply(count: number, seconds: (index: number) => string = (index) => String(3598 - index), ping: (index: number) => string = (index) => `${index}.25`): string {
  const blocks = Array.from({ length: count }, (_, index) =>
    BLOCK.replace(/999/g, String(100 + index))
      .replace('<agent>', index % 7 === 0 ? '<agent>Tom &amp; Jerry &lt;SIP&gt; Zoë ' : '<agent>')
      .replace('expsecs(3598)', `expsecs(${seconds(index)})`)
      .replace('<ping-time>0.00</ping-time>', `<ping-time>${ping(index)}</ping-time>`)
      .replace(/\s*<ping-status>[^<]*<\/ping-status>\s*<ping-time>[^<]*<\/ping-time>/, index % 5 === 0 ? '' : '$&'),
  );
  return CAPTURE.replace(/<registrations>[\s\S]*<\/registrations>/, `<registrations>\n${blocks.join('\n')}\n  </registrations>`);
}

/** A registration but for what counts down or is re-measured between polls. */
function kept(registration: Registration): Omit<Registration, 'rawStatus' | 'expiresInSeconds' | 'pingTimeMs'> {
  const { rawStatus: _raw, expiresInSeconds: _seconds, pingTimeMs: _ping, ...rest } = registration;
  return rest;
}

const parsedKept = (body: Buffer) => parseRegistrationsXml(body.toString('utf8'), 'internal').map(kept);

describe('a reply the same as the last but for expsecs and ping times (the steady monitoring poll)', () => {
  it('is found the same however many digits its volatile values have, and parses to the same registrations but for them', () => {
    const last = Buffer.from(reply(40));
    const steady = steadyReplyOf(last)!;
    expect(steady).not.toBeNull();
    // 40 expsecs and 32 ping times (every fifth phone is an old build without them).
    expect(steady.ranges.length / 3).toBe(40 + 32);
    const next = Buffer.from(
      reply(
        40,
        (index) => String(index % 3 === 0 ? -index : 7 * index),
        (index) => `${index * 1000}.5`,
      ),
    );
    expect(next.length).not.toBe(last.length);
    expect(sameButVolatile(steady, next)).toBe(true);
    expect(parsedKept(next)).toEqual(parsedKept(last));
    expect(parseRegistrationsXml(next.toString('utf8'), 'internal')[4]).toMatchObject({ expiresInSeconds: 28, pingTimeMs: '4000.5' });
  });

  it('agrees with a full parse on random changes: whenever it says the same, the registrations are the same but for volatile values', () => {
    const random = seededRandom(18);
    const last = Buffer.from(reply(30));
    const steady = steadyReplyOf(last)!;
    const lastKept = parsedKept(last);
    const volatile: [number, number][] = [];
    for (let index = 0; index < steady.ranges.length; index += 3) volatile.push([steady.ranges[index]!, steady.ranges[index + 1]!]);
    const alphabet = '0123456789.-)( <>/&;abcXYZ';
    let same = 0;
    let different = 0;
    for (let round = 0; round < 2000; round += 1) {
      // Half the changes land in a volatile value (or right beside it), half anywhere.
      const [from, to] = volatile[Math.floor(random() * volatile.length)]!;
      const position = random() < 0.5 ? from - 1 + Math.floor(random() * (to - from + 2)) : Math.floor(random() * last.length);
      const character = Buffer.from(alphabet[Math.floor(random() * alphabet.length)]!);
      const kind = random();
      const next =
        kind < 0.4
          ? Buffer.concat([last.subarray(0, position), character, last.subarray(position + 1)])
          : kind < 0.7
            ? Buffer.concat([last.subarray(0, position), character, last.subarray(position)])
            : Buffer.concat([last.subarray(0, position), last.subarray(position + 1)]);
      const inVolatile = volatile.some(([start, end]) => position >= start && position < end + (kind < 0.7 && kind >= 0.4 ? 1 : 0));
      if (!sameButVolatile(steady, next)) {
        different += 1;
        continue;
      }
      same += 1;
      // Only a change inside a volatile value (or none: a byte replaced by itself) can be found the same, and then the parse agrees.
      if (!next.equals(last)) expect({ position, kind, inVolatile }).toEqual({ position, kind, inVolatile: true });
      expect(parsedKept(next)).toEqual(lastKept);
    }
    expect(same).toBeGreaterThan(100);
    expect(different).toBeGreaterThan(100);
  });

  it("takes the seconds as volatile only in mod_sofia's status form: an agent or an odd status holding `expsecs(…)` is compared whole", () => {
    const odd = (agentSeconds: number, statusSeconds: number) =>
      Buffer.from(
        CAPTURE.replace('<agent>', `<agent>Evil expsecs(${agentSeconds}) `).replace(
          /<status>[^<]*<\/status>/,
          `<status>Registered(UDP-NAT) exp(2025-05-13 18:29:38) expsecs(${statusSeconds})</status>`,
        ),
      );
    const steady = steadyReplyOf(odd(12, 60))!;
    // Only the ping time is volatile here.
    expect(steady.ranges.length).toBe(3);
    expect(sameButVolatile(steady, odd(12, 60))).toBe(true);
    expect(sameButVolatile(steady, odd(13, 60))).toBe(false);
    expect(sameButVolatile(steady, odd(12, 59))).toBe(false);
  });

  it('has no steady form for a reply with control characters or without <registrations>; the parse cache gives none when the XML parser read the reply', () => {
    expect(steadyReplyOf(Buffer.from(CAPTURE.replace('<agent>', '<agent>\u0001')))).toBeNull();
    expect(steadyReplyOf(Buffer.from('Invalid Profile!'))).toBeNull();
    const cache = new RegistrationsReplyCache();
    expect(cache.parseBytes(Buffer.from(CAPTURE), 'internal').steady).not.toBeNull();
    const withComment = cache.parseBytes(Buffer.from(CAPTURE.replace('<registrations>', '<registrations><!-- x -->')), 'internal');
    expect(withComment.registrations).toHaveLength(1);
    expect(withComment.steady).toBeNull();
  });
});

describe('event-socket bodies read into offered memory', () => {
  const wire = (body: string) => Buffer.from(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
  const pushInChunks = (parser: EslFrameParser, bytes: Buffer) => {
    const frames = [];
    for (let offset = 0; offset < bytes.length; offset += 65_536) frames.push(...parser.push(bytes.subarray(offset, offset + 65_536)));
    return frames;
  };

  it("reads the next body spanning chunks into an earlier body's storage when it fits, and never writes into memory it did not allocate", () => {
    const parser = new EslFrameParser();
    const first = reply(400);
    const [one] = pushInChunks(parser, wire(first));
    expect(one!.body).toBe(first);
    parser.offer(one!.bytes);
    // A little longer (more digits): it fits in the eighth allocated to spare.
    const second = reply(400, (index) => String(100_000 + index));
    const [two] = pushInChunks(parser, wire(second));
    expect(two!.bytes.buffer).toBe(one!.bytes.buffer);
    expect(two!.body).toBe(second);
    // A buffer the parser did not allocate is not taken (it may share memory with anything).
    const foreign = Buffer.alloc(first.length * 2, 0x41);
    parser.offer(foreign);
    const [three] = pushInChunks(parser, wire(first));
    expect(three!.bytes.buffer).not.toBe(foreign.buffer);
    expect(three!.body).toBe(first);
    expect(foreign.every((byte) => byte === 0x41)).toBe(true);
    // Storage too small for the next body: new storage.
    parser.offer(three!.bytes);
    const [four] = pushInChunks(parser, wire(reply(800)));
    expect(four!.bytes.buffer).not.toBe(three!.bytes.buffer);
    expect(four!.body).toBe(reply(800));
  });
});
