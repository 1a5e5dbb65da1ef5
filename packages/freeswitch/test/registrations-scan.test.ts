import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { parseRegistrationsXml, RegistrationStatusError, scanRegistrationsXml } from '../src';

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
