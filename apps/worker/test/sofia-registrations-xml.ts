/** One registration of `sofia xmlstatus profile <name> reg`, as FreeSWITCH lists it. */
export interface SofiaRegistration {
  /** `extension@domain` */
  user: string;
  /** the phone's LAN address in its contact */
  lanIp: string;
  networkIp: string;
  networkPort: number;
  agent: string;
  expires: string;
  expiresInSeconds: number;
  pingTime: number;
}

/** The reply of `sofia xmlstatus profile <name> reg` listing `registrations` (in that order), in FreeSWITCH's framing. */
export function sofiaRegistrationsXml(registrations: readonly SofiaRegistration[]): string {
  const blocks = registrations.map((registration) => {
    const [extension, domain] = registration.user.split('@') as [string, string];
    return [
      '    <registration>',
      `        <call-id>call-${registration.user}</call-id>`,
      `        <user>${registration.user}</user>`,
      `        <contact>&quot;&quot; &lt;sip:${extension}@${registration.lanIp}:5060;fs_nat=yes&gt;</contact>`,
      `        <agent>${registration.agent}</agent>`,
      `        <status>Registered(UDP-NAT)(unknown) exp(${registration.expires}) expsecs(${registration.expiresInSeconds})</status>`,
      '        <ping-status>Reachable</ping-status>',
      `        <ping-time>${registration.pingTime}</ping-time>`,
      '        <host>fs1.pbx.test</host>',
      `        <network-ip>${registration.networkIp}</network-ip>`,
      `        <network-port>${registration.networkPort}</network-port>`,
      `        <sip-auth-user>${extension}</sip-auth-user>`,
      `        <sip-auth-realm>${domain}</sip-auth-realm>`,
      `        <mwi-account>${registration.user}</mwi-account>`,
      '    </registration>',
    ].join('\n');
  });
  return `<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n${blocks.join('\n')}\n  </registrations>\n</profile>\n`;
}
