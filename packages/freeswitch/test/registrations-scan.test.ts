import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { parseRegistrationsXml, RegistrationsReplyCache, RegistrationStatusError, scanRegistrationsXml } from '../src';

/** A real FreeSWITCH 1.10 capture of `sofia xmlstatus profile internal reg`. */
const CAPTURE = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8').trim();
const BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(CAPTURE)![0];

/** What the generic XML parser makes of the same reply (the reference the fast path must equal). */
const generic = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, processEntities: true, isArray: (name) => name === 'registration' });

function withBlocks(blocks: string[]): string {
  return CAPTURE.replace(/<registrations>[\s\S]*<\/registrations>/, `<registrations>\n${blocks.join('\n')}\n  </registrations>`);
}

describe('the fast registrations scanner (monitoring poll)', () => {
  it('reads the real capture exactly as the XML parser does', () => {
    const scanned = scanRegistrationsXml(CAPTURE, 'internal');
    expect(scanned).not.toBeNull();
    expect(scanned).toHaveLength(1);
    expect(scanned![0]).toMatchObject({ extension: '999', domain: 'hornblower.tel', networkIp: '203.0.113.228', networkPort: 5060 });
    expect(scanned![0]!.contact).toContain('<sip:');
    const entries = (generic.parse(CAPTURE) as { profile: { registrations: { registration: Record<string, string>[] } } }).profile.registrations.registration;
    expect(entries).toHaveLength(1);
    expect(scanned![0]!.userAgent).toBe(entries[0]!.agent);
    expect(scanned![0]!.contact).toBe(entries[0]!.contact);
  });

  it('equals the XML parser on many phones, entities, an empty element and an old build without ping fields', () => {
    const blocks = Array.from({ length: 50 }, (_, index) =>
      BLOCK.replace(/999/g, String(100 + index))
        .replace('<agent>', index % 7 === 0 ? '<agent>Tom &amp; Jerry &lt;SIP&gt; ' : '<agent>')
        .replace(/<ping-time>[^<]*<\/ping-time>/, index % 5 === 0 ? '<ping-time/>' : '$&')
        .replace(/\s*<ping-status>[^<]*<\/ping-status>/, index % 3 === 0 ? '' : '$&'),
    );
    const body = withBlocks(blocks);
    const scanned = scanRegistrationsXml(body, 'internal');
    expect(scanned).toHaveLength(50);
    // parseRegistrationsXml takes the fast path here; the same body with a comment forces the XML parser.
    const viaParser = parseRegistrationsXml(body.replace('<registrations>', '<registrations><!-- force the XML parser -->'), 'internal');
    expect(scanned).toEqual(viaParser);
    expect(scanned!.find((entry) => entry.extension === '100')!.userAgent).toMatch(/^Tom & Jerry <SIP> /);
  });

  it('leaves anything but the flat mod_sofia shape to the XML parser (null)', () => {
    const odd = [
      withBlocks([BLOCK.replace('<agent>', '<agent kind="x">')]),
      withBlocks([BLOCK.replace('<agent>', '<agent><![CDATA[x]]>')]),
      withBlocks([BLOCK.replace('<host>', '<host>&#65;')]),
      withBlocks([BLOCK.replace('</agent>', '</agent>\n<agent>twice</agent>')]),
      withBlocks([BLOCK.replace('<agent>', '<agent><b>nested</b>')]),
      CAPTURE.slice(0, -20),
    ];
    for (const body of odd) expect(scanRegistrationsXml(body, 'internal')).toBeNull();
    // A reply cut short (a socket dropping mid-reply) is still refused by the XML parser.
    expect(() => parseRegistrationsXml(CAPTURE.slice(0, CAPTURE.indexOf('</registration>')), 'internal')).toThrow(RegistrationStatusError);
  });
});

describe('the registrations reply cache (a poll read against the last one)', () => {
  /** One reply of `phones` re-homed blocks at poll `n`: expsecs and ping-time differ every poll, as on a real switch. */
  function reply(n: number, phones: string[], change: (block: string, phone: string) => string = (block) => block): string {
    return withBlocks(
      phones.map((phone) =>
        change(
          BLOCK.replace(/999/g, phone)
            .replace(/expsecs\(\d+\)/, `expsecs(${3600 - n * 60 - Number(phone)})`)
            .replace(/<ping-time>[^<]*</, `<ping-time>${(n * 1.37 + Number(phone) / 100).toFixed(2)}<`),
          phone,
        ),
      ),
    );
  }

  it('answers what parseRegistrationsXml answers, poll after poll, reading again only the blocks that changed', () => {
    const cache = new RegistrationsReplyCache();
    const phones = Array.from({ length: 40 }, (_, index) => String(100 + index));
    const polls: [string, number][] = [
      [reply(0, phones), 40],
      [reply(1, phones), 0],
      // 105 moved to another port, 106 re-registered (new exp()), 107 gone, 180 new.
      [
        reply(2, [...phones.filter((phone) => phone !== '107'), '180'], (block, phone) =>
          phone === '105' ? block.replace('<network-port>5060<', '<network-port>5062<') : phone === '106' ? block.replace(/exp\([^)]*\)/, 'exp(2031-01-01 00:00:00)') : block,
        ),
        3,
      ],
      [
        reply(3, [...phones.filter((phone) => phone !== '107'), '180'], (block, phone) =>
          phone === '105' ? block.replace('<network-port>5060<', '<network-port>5062<') : phone === '106' ? block.replace(/exp\([^)]*\)/, 'exp(2031-01-01 00:00:00)') : block,
        ),
        0,
      ],
      // An entity in the ping time and the status: still read exactly as the scanner reads them.
      [reply(4, phones, (block) => block.replace('<ping-time>', '<ping-time> &amp;').replace('Registered(', 'Registered(&quot;')), 40],
      [reply(5, phones, (block) => block.replace('<ping-time>', '<ping-time> &amp;').replace('Registered(', 'Registered(&quot;')), 0],
    ];
    for (const [body, misses] of polls) {
      const expected = parseRegistrationsXml(body, 'internal');
      expect(cache.parse(body, 'internal')).toEqual(expected);
      expect(cache.misses).toBe(misses);
    }
    expect(cache.parse(reply(6, phones), 'internal').find((entry) => entry.extension === '101')).toMatchObject({
      expiresInSeconds: 3600 - 360 - 101,
      pingTimeMs: (6 * 1.37 + 1.01).toFixed(2),
    });
  });

  it('a reply of another shape goes to the XML parser (and its errors), and the next poll starts afresh', () => {
    const cache = new RegistrationsReplyCache();
    const phones = ['100', '101'];
    cache.parse(reply(0, phones), 'internal');
    const commented = reply(1, phones).replace('<registrations>', '<registrations><!-- odd -->');
    expect(cache.parse(commented, 'internal')).toEqual(parseRegistrationsXml(commented, 'internal'));
    expect(cache.misses).toBe(-1);
    expect(() => cache.parse('Invalid Profile!', 'internal')).toThrow(RegistrationStatusError);
    expect(cache.parse(reply(2, phones), 'internal')).toEqual(parseRegistrationsXml(reply(2, phones), 'internal'));
    expect(cache.misses).toBe(2);
  });
});
