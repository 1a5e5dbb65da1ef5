import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { ServicesRepository } from '@ictvoip/store';

/**
 * A tenant as provisioning leaves it, written directly (for suites that need no worker): the
 * bridge's services row and a FusionPBX domain carrying the bridge's ictvoip tag and state rows.
 */
export async function seedTenant(
  bridgePool: Pool,
  fusion: Pool,
  serviceId: number,
  domainName: string,
  plan: Record<string, unknown> = { maxExtensions: 3 },
): Promise<{ domainUuid: string; extensionUuid: string }> {
  const services = new ServicesRepository(bridgePool);
  await services.setDesired({ serviceId, clientId: 77, desiredState: 'active', plan, eventId: randomUUID() });
  await services.recordObserved(serviceId, { state: 'active', tenantDomain: domainName });
  const domainUuid = randomUUID();
  await fusion.query("insert into v_domains (domain_uuid, domain_name, domain_enabled, insert_date) values ($1, $2, 'true', now())", [domainUuid, domainName]);
  const state = JSON.stringify({ status: 'active', generation: 1, adminUsername: 'admin', gatewayUuid: null, suspendMemory: null, surplusDisabled: [], terminatedAt: null });
  for (const [subcategory, value] of [
    ['service_id', String(serviceId)],
    ['state', state],
  ]) {
    await fusion.query(
      `insert into v_domain_settings (domain_setting_uuid, domain_uuid, domain_setting_category, domain_setting_subcategory, domain_setting_name, domain_setting_value, domain_setting_order, domain_setting_enabled, insert_date)
       values ($1, $2, 'ictvoip', $3, 'text', $4, 0, 'false', now())`,
      [randomUUID(), domainUuid, subcategory, value],
    );
  }
  const extensionUuid = randomUUID();
  await fusion.query("insert into v_extensions (extension_uuid, domain_uuid, extension, user_context, enabled, insert_date) values ($1, $2, '100', $3, 'true', now())", [
    extensionUuid,
    domainUuid,
    domainName,
  ]);
  return { domainUuid, extensionUuid };
}
