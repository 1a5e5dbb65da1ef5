/**
 * Operator e-mails of the monitoring alerts: WHMCS SendAdminEmail with an admin template
 * (ALERT_ADMIN_EMAIL_TEMPLATE_*), the same merge fields as the client's e-mail, exactly once like it
 * (one delivery row per alert, claimed before the call), through the includes/api.php stand-in.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWhmcsStandin, type WhmcsStandin } from '@ictvoip/testkit';
import { deliverRegistrationAlert } from '../src/jobs/monitoring/registration-alert';
import { pollServerRegistrations } from '../src/jobs/monitoring/registrations-poll';
import { startBridge, waitFor, type Bridge } from './harness';

const SAMPLE_REG = readFileSync(join(__dirname, '../../../fixtures/samples/registrations/xmlstatus-profile-reg.fs1.10.coolpbx.xml'), 'utf8');
const SAMPLE_BLOCK = /<registration>[\s\S]*?<\/registration>/.exec(SAMPLE_REG)![0];
const SERVICE = 7401;
const CLIENT = 78;
const DOMAIN = 'admin-mail.pbx.test';
const T0 = Date.parse('2026-04-02T08:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const TEMPLATES = { clientLost: 'Phone Registration Lost', adminLost: 'Phone Registration Lost (staff)' };

let bridge: Bridge;
let whmcs: WhmcsStandin;
let phones = ['101', '102'];

const capture = () =>
  SAMPLE_REG.replace(
    '</registrations>',
    `${phones.map((extension) => SAMPLE_BLOCK.replaceAll('hornblower.tel', DOMAIN).replace(/999/g, extension)).join('\n')}\n  </registrations>`,
  );
const poll = (seconds: number) => pollServerRegistrations(bridge.worker!.deps, 'default', at(seconds));
const adminEmailsFor = (extension: string) => whmcs.state.adminEmails.filter((email) => email.mergefields.extension === extension);
const clientEmailsFor = (extension: string) => whmcs.state.emails.filter((email) => email.customvars.extension === extension);

async function historyOf(extension: string): Promise<{ id: string; transition: string; alert_sent_at: Date | null }[]> {
  return (await bridge.worker!.deps.pool.query('SELECT id, transition, alert_sent_at FROM registration_history WHERE extension = $1 ORDER BY id', [extension])).rows;
}

async function deliveriesOf(historyId: string): Promise<{ recipient: string; state: string; attempts: number }[]> {
  return (
    await bridge.worker!.deps.pool.query("SELECT recipient, state, attempts FROM monitoring_alert_deliveries WHERE kind = 'registration' AND history_id = $1 ORDER BY recipient", [
      historyId,
    ])
  ).rows;
}

async function loseAt(extension: string, start: number): Promise<string> {
  phones = phones.filter((number) => number !== extension);
  await poll(start);
  const lost = await poll(start + 180);
  expect(lost.transitions.map((entry) => `${entry.extension} ${entry.transition}`)).toEqual([`${extension} lost`]);
  return String(lost.transitions[0]!.id);
}

beforeAll(async () => {
  whmcs = await startWhmcsStandin({ emailTemplates: [{ name: TEMPLATES.clientLost, type: 'product' }], adminEmailTemplates: [TEMPLATES.adminLost] });
  whmcs.addClient({ id: CLIENT });
  whmcs.addService({ id: SERVICE, clientid: CLIENT });
  bridge = await startBridge({
    REGISTRATION_LOST_AFTER_SECONDS: '180',
    ALERT_EMAIL_TEMPLATE_LOST: TEMPLATES.clientLost,
    ALERT_ADMIN_EMAIL_TEMPLATE_LOST: TEMPLATES.adminLost,
    ALERT_ADMIN_EMAIL_TYPE: 'account',
    WHMCS_API_URL: whmcs.url,
    WHMCS_API_IDENTIFIER: whmcs.identifier,
    WHMCS_API_SECRET: whmcs.secret,
    WHMCS_API_TIMEOUT_MS: '1000',
  });
  await bridge.startWorker({ schedulers: false });
  const deps = bridge.worker!.deps;
  await deps.pool.query(`INSERT INTO services (service_id, client_id, tenant_domain, desired_state) VALUES ($1, $2, $3, 'active')`, [SERVICE, CLIENT, DOMAIN]);
  const domainUuid = randomUUID();
  await bridge.fusion.query('insert into v_domains (domain_uuid, domain_name, domain_enabled) values ($1, $2, true)', [domainUuid, DOMAIN]);
  for (const extension of phones) {
    await bridge.fusion.query(`insert into v_extensions (extension_uuid, domain_uuid, extension, enabled) values ($1, $2, $3, 'true')`, [randomUUID(), domainUuid, extension]);
  }
  bridge.esl.respond("sofia xmlstatus profile 'internal' reg", () => capture());
  await poll(0);
}, 60000);

afterAll(async () => {
  await bridge?.close();
  await whmcs?.close();
});

describe('operator e-mails (WHMCS SendAdminEmail)', () => {
  it('a lost phone sends one admin e-mail (the admin template, its type, the merge fields) beside the client e-mail, and never again', async () => {
    const id = await loseAt('101', 60);
    await waitFor(async () => (await historyOf('101'))[0]?.alert_sent_at, 20000, 'the alerts of 101 settled');
    expect(adminEmailsFor('101')).toEqual([
      {
        messagename: TEMPLATES.adminLost,
        customsubject: '',
        type: 'account',
        deptid: null,
        mergefields: expect.objectContaining({
          alert_type: 'registration.lost',
          extension_address: `101@${DOMAIN}`,
          service_id: String(SERVICE),
          date_time: '2026-04-02 08:04:00 UTC',
        }),
      },
    ]);
    expect(clientEmailsFor('101').map((email) => email.messagename)).toEqual([TEMPLATES.clientLost]);
    expect((await deliveriesOf(id)).map((row) => [row.recipient, row.state])).toEqual([
      ['admin', 'sent'],
      ['client', 'sent'],
    ]);
    expect(await deliverRegistrationAlert(bridge.worker!.deps, Number(id))).toMatchObject({ sent: 0, reason: 'already sent' });
    // No admin template for "restored": the client template is missing too, so nothing is mailed.
    phones.push('101');
    expect((await poll(300)).transitions.map((entry) => entry.transition)).toEqual(['restored']);
    await waitFor(async () => (await historyOf('101'))[1]?.alert_sent_at, 20000, 'the restored alert of 101 settled');
    expect(adminEmailsFor('101')).toHaveLength(1);
  });

  it('WHMCS refusing the admin e-mail: it is retried until accepted and sent once; the client e-mail is not repeated', async () => {
    whmcs.setFaults([{ mode: 'result_error', percent: 100, actions: ['SendAdminEmail'] }]);
    let id = '';
    try {
      id = await loseAt('102', 400);
      await waitFor(async () => (await deliveriesOf(id)).find((row) => row.recipient === 'admin' && row.attempts >= 2 && row.state === 'pending'), 20000, 'two refusals');
      expect(adminEmailsFor('102')).toHaveLength(0);
    } finally {
      whmcs.setFaults([]);
    }
    await waitFor(async () => (await historyOf('102'))[0]?.alert_sent_at, 30000, 'the alerts of 102 settled');
    expect(adminEmailsFor('102')).toHaveLength(1);
    expect(clientEmailsFor('102')).toHaveLength(1);
    expect((await deliveriesOf(id)).map((row) => [row.recipient, row.state])).toEqual([
      ['admin', 'sent'],
      ['client', 'sent'],
    ]);
  });
});
