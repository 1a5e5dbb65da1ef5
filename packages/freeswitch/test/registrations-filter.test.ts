import { parseRegistrationsForDomain, parseRegistrationsXml, registrationsForDomain, RegistrationStatusError } from '@ictvoip/freeswitch';

function registration(user: string, domain: string, realm: string, agent = 'Yealink SIP-T46U 66.86.0.15'): string {
  return `<registration><call-id>${user}-${domain}</call-id><user>${user}@${domain}</user>
<contact>&quot;&quot; &lt;sip:${user}@192.0.2.10:5060&gt;</contact><agent>${agent}</agent>
<status>Registered(UDP)(unknown) exp(2026-11-28 23:59:00) expsecs(3600)</status>
<host>fs1</host><network-ip>192.0.2.10</network-ip><network-port>5060</network-port>
<sip-auth-user>${user}</sip-auth-user><sip-auth-realm>${realm}</sip-auth-realm><mwi-account>${user}@${domain}</mwi-account></registration>`;
}

function profile(blocks: string[]): string {
  return `<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n<registrations>\n${blocks.join('\n')}\n</registrations>\n</profile>\n`;
}

describe('parseRegistrationsForDomain', () => {
  const domains = Array.from({ length: 40 }, (_, i) => `t${i}.pbx.example.net`);
  const blocks = domains.flatMap((domain, d) => Array.from({ length: 25 }, (_, u) => registration(String(100 + u), d % 7 === 0 ? domain.toUpperCase() : domain, domain)));
  // A registration whose realm is the tenant but whose user host is an IP (FusionPBX counts it too).
  blocks.push(registration('555', '192.0.2.99', 't3.pbx.example.net'));
  // A domain that merely contains another as a substring must not be mixed in.
  blocks.push(registration('556', 'xt3.pbx.example.net', 'xt3.pbx.example.net'));
  const xml = profile(blocks);

  it.each(['t3.pbx.example.net', 't7.pbx.example.net', 'absent.example.net'])('gives exactly what parsing everything and filtering gives, for %s', (domain) => {
    const fast = parseRegistrationsForDomain(xml, 'internal', domain);
    const slow = registrationsForDomain(parseRegistrationsXml(xml, 'internal'), domain);
    expect(fast).toEqual(slow);
  });

  it("finds the tenant's registrations, including one registered by realm only", () => {
    const found = parseRegistrationsForDomain(xml, 'internal', 't3.pbx.example.net');
    expect(found).toHaveLength(26);
    expect(found.map((r) => r.extension)).toContain('555');
  });

  it('reports a profile that is not running like the full parser does', () => {
    expect(() => parseRegistrationsForDomain('Invalid Profile!\n', 'internal', 't1.pbx.example.net')).toThrow(RegistrationStatusError);
  });

  it('answers an empty profile with no registrations', () => {
    expect(parseRegistrationsForDomain(profile([]), 'internal', 't1.pbx.example.net')).toEqual([]);
  });
});
