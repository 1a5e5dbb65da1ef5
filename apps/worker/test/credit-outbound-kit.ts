/** The credit tests' outbound-restricted tenant, shared by credit-e2e and credit-outbound-leaks. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvent, postWebhook } from '@ictvoip/testkit';
import { startBillingKit, type BillingKit } from './cdr-billing-kit';

/**
 * The billing kit with the API up and a provisioning file whose `nanp` route template has a paid
 * route and an emergency route (911/933) through the plan's `carrier` gateway; `close` removes the file too.
 */
export async function startOutboundKit(standin?: Parameters<typeof startBillingKit>[1]): Promise<BillingKit> {
  const dir = mkdtempSync(join(tmpdir(), 'ictvoip-credit-outbound-'));
  const file = join(dir, 'provisioning.json');
  writeFileSync(
    file,
    JSON.stringify({
      gatewayTemplates: { carrier: { proxy: 'sip.carrier.example', register: true, username: 'acme', password: 'change-me' } },
      routeTemplates: { nanp: [{ pattern: '^\\+?(\\d{11})$' }, { pattern: '(^911$|^933$)', description: 'Emergency' }] },
    }),
  );
  const kit = await startBillingKit({ CREDIT_CACHE_SECONDS: '0', WHMCS_API_TIMEOUT_MS: '5000', PROVISIONING_FILE: file }, standin);
  await kit.bridge.startApi();
  const close = kit.close.bind(kit);
  kit.close = async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  };
  return kit;
}

/**
 * A prepaid tenant provisioned through the webhook with `creditRestriction: outbound`: the plan's
 * gateway is its only one and carries the emergency route; a second gateway it added itself has none.
 */
export async function addOutboundTenant(kit: BillingKit, serviceId: number) {
  const client = kit.whmcs.addClient();
  kit.whmcs.addService({ id: serviceId, clientid: client.id });
  client.credit = '1.10';
  const plan = {
    maxExtensions: 2,
    firstExtension: 100,
    gatewayTemplate: 'carrier',
    routeTemplate: 'nanp',
    rateDeck: 'std',
    includedMinutes: 0,
    billingMode: 'prepaid',
    creditRestriction: 'outbound',
    lowBalanceThreshold: '0.10',
  };
  const created = await postWebhook(kit.bridge.url, JSON.stringify(buildEvent({ serviceId, plan, client: { id: client.id, email: 'c@example.com' } })), { query: '?wait=20' });
  expect(created.body).toMatchObject({ result: 'success' });
  const fusion = async (sql: string, params: unknown[] = []) => (await kit.bridge.fusion.query(sql, params)).rows as Record<string, string>[];
  const domainName = `t${serviceId}.pbx.example.net`;
  const domainUuid = (await fusion('select domain_uuid::text from v_domains where domain_name = $1', [domainName]))[0]!.domain_uuid!;
  const [trunk] = (await fusion('select gateway_uuid::text from v_gateways where domain_uuid = $1', [domainUuid])).map((row) => row.gateway_uuid!);
  const spare = randomUUID();
  await kit.bridge.fusion.query(`insert into v_gateways (gateway_uuid, domain_uuid, gateway, register, profile, enabled) values ($1, $2, 'spare', 'false', 'external', 'true')`, [
    spare,
    domainUuid,
  ]);
  const gateways = async () =>
    Object.fromEntries(
      (await fusion('select gateway_uuid::text, enabled::text from v_gateways where domain_uuid = $1', [domainUuid])).map((row) => [row.gateway_uuid, row.enabled]),
    );
  const routes = () =>
    fusion(
      `select p.dialplan_name, p.dialplan_enabled::text as enabled, c.dialplan_detail_data as expression, b.dialplan_detail_data as bridge
       from v_dialplans p
       join v_dialplan_details c on c.dialplan_uuid = p.dialplan_uuid and c.dialplan_detail_type = 'destination_number'
       left join v_dialplan_details b on b.dialplan_uuid = p.dialplan_uuid and b.dialplan_detail_type = 'bridge'
       where p.domain_uuid = $1 and p.app_uuid = '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3' order by p.dialplan_name, p.dialplan_uuid`,
      [domainUuid],
    );
  /** The enabled route FreeSWITCH would take for `number`, through a gateway that is up (the Lua dialplan reads enabled rows only). */
  const routedThrough = async (number: string) => {
    const up = await gateways();
    return (await routes()).filter(
      (row) => row.enabled === 'true' && row.bridge && new RegExp(row.expression!).test(number) && up[/sofia\/gateway\/([^/]+)\//.exec(row.bridge)![1]!] === 'true',
    );
  };
  const audits = async () =>
    (await kit.deps.pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE service_id = $1 AND actor = 'credit' ORDER BY id`, [serviceId])).rows.map(
      (row) => row.action,
    );
  return { client, tenant: { serviceId, clientId: client.id, domainName, domainUuid }, trunk: trunk!, spare, gateways, routes, routedThrough, audits };
}
