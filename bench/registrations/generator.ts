import { prng } from '../lib/stats';

/**
 * Builds a `sofia xmlstatus profile internal reg` reply with `count` registrations spread over
 * `domains` tenant domains, shaped like samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml
 * (entities in the contact, NAT and TLS transports, a few without ping fields like old builds).
 * Deterministic for a given seed.
 */
const AGENTS = [
  'Linphone-Desktop/5.0.17 (andres.okay.com.mx) mageia/9 Qt/5.15.7 LinphoneSDK/5.2.70',
  'Yealink SIP-T46S 66.86.0.15',
  'Grandstream GXP2170 1.0.11.23',
  'Zoiper rv2.10.19.2',
  'PolycomVVX-VVX_411-UA/6.4.3.4089',
  'Bria 6 release 6.5.2 stamp 110211',
];
const TRANSPORTS = ['UDP-NAT', 'UDP', 'TCP', 'TLS'];

export function tenantDomain(index: number): string {
  return `t${5000 + index}.pbx.example.net`;
}

export function registrationsXml(count: number, domains: number, seed = 7): string {
  const random = prng(seed);
  const parts: string[] = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'];
  for (let index = 0; index < count; index += 1) {
    const domain = tenantDomain(Math.floor(random() * domains));
    const extension = String(100 + Math.floor(random() * 400));
    const ip = `203.0.${Math.floor(random() * 255)}.${1 + Math.floor(random() * 253)}`;
    const port = 1024 + Math.floor(random() * 60000);
    const transport = TRANSPORTS[Math.floor(random() * TRANSPORTS.length)];
    const expsecs = Math.floor(random() * 3600);
    const oldBuild = random() < 0.1;
    const callId = Math.floor(random() * 2 ** 48).toString(36);
    parts.push(
      '    <registration>\n',
      `        <call-id>${callId}</call-id>\n`,
      `        <user>${extension}@${domain}</user>\n`,
      `        <contact>&quot;&quot; &lt;sip:${extension}@${ip}:${port};transport=${transport.startsWith('TLS') ? 'tls' : 'udp'};fs_nat=yes;fs_path=sip%3A${extension}%40${ip}%3A${port}&gt;</contact>\n`,
      `        <agent>${AGENTS[index % AGENTS.length]}</agent>\n`,
      `        <status>Registered(${transport})(unknown) exp(2025-05-13 18:29:38)${oldBuild ? '' : ` expsecs(${expsecs})`}</status>\n`,
      oldBuild ? '' : `        <ping-status>Reachable</ping-status>\n        <ping-time>${(random() * 80).toFixed(2)}</ping-time>\n`,
      '        <host>fs1.pbx.example.net</host>\n',
      `        <network-ip>${ip}</network-ip>\n`,
      `        <network-port>${port}</network-port>\n`,
      `        <sip-auth-user>${extension}</sip-auth-user>\n`,
      `        <sip-auth-realm>${domain}</sip-auth-realm>\n`,
      `        <mwi-account>${extension}@${domain}</mwi-account>\n`,
      '    </registration>\n',
    );
  }
  parts.push('  </registrations>\n</profile>\n');
  return parts.join('');
}

/** One phone in REFRESH_EVERY re-registers between two refreshing polls: 5 %. */
export const REFRESH_EVERY = 20;

/** `exp(…)` of phone `phone` after `refreshes` refreshing rounds: the first one moved by a minute per round, as of the last round in which it re-registered. */
function expiryAfterRefreshes(phone: number, refreshes: number): string {
  const lastRefresh = refreshes === 0 ? 0 : refreshes - ((phone + refreshes) % REFRESH_EVERY);
  const at = new Date(Date.UTC(2025, 4, 13, 18, 29, 38) + Math.max(0, lastRefresh) * 60_000);
  return at.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * The registrations of a monitoring poll: every one of `perTenant` extensions (100, 101, …) of each
 * of `tenants` tenant domains registered once, in the same element shape as `registrationsXml`,
 * minus the extensions named in `missing` (`<ext>@<domain>`): as on FreeSWITCH, a missing phone's
 * block is gone and every other block is as it would be (a phone coming back is listed where it was). `poll` numbers the poll a minute apart:
 * like a real switch's, each reply differs from the last in what counts down or is re-measured
 * (expsecs, ping-time), not in the registration itself. `refreshes` counts the polls before which
 * 1 phone in REFRESH_EVERY re-registered (each a different 1 in REFRESH_EVERY): FreeSWITCH then stores a new
 * expiry, so its `exp(…)` moves; 0 keeps every expiry at the first one.
 */
export function monitoredRegistrationsXml(tenants: number, perTenant: number, missing: ReadonlySet<string> = new Set(), seed = 11, poll = 0, refreshes = 0): string {
  const random = prng(seed);
  const volatile = prng(seed * 7919 + poll);
  const parts: string[] = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'];
  for (let tenant = 0; tenant < tenants; tenant += 1) {
    const domain = tenantDomain(tenant);
    for (let index = 0; index < perTenant; index += 1) {
      const extension = String(100 + index);
      const ip = `198.51.${tenant % 255}.${1 + index}`;
      const expires = expiryAfterRefreshes(tenant * perTenant + index, refreshes);
      // Drawn for a missing phone too: a registration gone removes its block and leaves every other block as it was (FreeSWITCH deletes its row).
      const port = 1024 + Math.floor(random() * 60000);
      const callId = Math.floor(random() * 2 ** 48).toString(36);
      const expsecs = (Math.floor(random() * 3600) + 3600 - ((poll * 60) % 3600)) % 3600;
      const pingTime = (volatile() * 80).toFixed(2);
      if (missing.has(`${extension}@${domain}`)) continue;
      parts.push(
        '    <registration>\n',
        `        <call-id>${callId}</call-id>\n`,
        `        <user>${extension}@${domain}</user>\n`,
        `        <contact>&quot;&quot; &lt;sip:${extension}@192.168.1.${1 + index}:5060;fs_nat=yes;fs_path=sip%3A${extension}%40${ip}%3A${port}&gt;</contact>\n`,
        `        <agent>${AGENTS[index % AGENTS.length]}</agent>\n`,
        `        <status>Registered(UDP-NAT)(unknown) exp(${expires}) expsecs(${expsecs})</status>\n`,
        `        <ping-status>Reachable</ping-status>\n        <ping-time>${pingTime}</ping-time>\n`,
        '        <host>fs1.pbx.example.net</host>\n',
        `        <network-ip>${ip}</network-ip>\n`,
        `        <network-port>${port}</network-port>\n`,
        `        <sip-auth-user>${extension}</sip-auth-user>\n`,
        `        <sip-auth-realm>${domain}</sip-auth-realm>\n`,
        `        <mwi-account>${extension}@${domain}</mwi-account>\n`,
        '    </registration>\n',
      );
    }
  }
  parts.push('  </registrations>\n</profile>\n');
  return parts.join('');
}
