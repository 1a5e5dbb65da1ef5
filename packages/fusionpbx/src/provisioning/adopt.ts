import type { Pool } from 'pg';
import { inTransaction, lockKey, selectRows, type Tx } from '../db';
import { findDomainByName, lockDomainRow } from '../tenant-rows';
import { domainLockKey, lockService, ownerOf, writeState, writeTag, type TenantState } from './tenant-state';

/**
 * Taking over a tenant domain another system made (ictVoIP's tenants, made in the FusionPBX GUI):
 * the only rows written are the bridge's two bookkeeping settings of the domain (`ictvoip/service_id`
 * and `ictvoip/state`, disabled so FusionPBX never loads them): without them the bridge cannot find
 * the tenant. Nothing of the tenant itself (domain, extensions, gateways, users) is written. The
 * domain's one gateway named as the plan's gateway template is recorded as the plan's gateway (its
 * uuid in the state): adopting the tenant takes it over, so change_package rewrites it from the
 * template (the bridge never takes over a namesake it did not make or adopt).
 */
export type DomainAdoption =
  | {
      outcome: 'adopted' | 'would-adopt' | 'already-tagged';
      domainUuid: string;
      domainName: string;
      /** The gateway taken over as the plan's (null: none, or several, of that name; or already tagged). */
      gatewayUuid: string | null;
    }
  | { outcome: 'no-domain' }
  | { outcome: 'disabled'; domainName: string }
  | { outcome: 'owned'; domainName: string; owner: string };

export interface AdoptDomainOptions {
  /** Check everything and write nothing (the transaction rolls back). */
  dryRun: boolean;
  /** The WHMCS service's username: the tenant admin when the domain has such a user. */
  serviceUsername?: string;
  /** The name the plan's gateway template writes (`name`, else its key): the domain's one gateway of that name becomes the plan's. */
  gatewayName?: string;
}

/** The domain's only gateway named `name` (none or several: null, nothing taken over). */
async function planGatewayOf(tx: Tx, domainUuid: string, name: string | undefined): Promise<string | null> {
  if (!name) return null;
  const rows = await selectRows(tx, 'select gateway_uuid from v_gateways where domain_uuid = $1 and gateway = $2', [domainUuid, name]);
  return rows.length === 1 ? (rows[0].gateway_uuid as string) : null;
}

/**
 * The domain's user the bridge will treat as the tenant admin (change_password sets its password):
 * the WHMCS service's username if the domain has that user, else `admin`, else the first user of the
 * domain in the `admin` group; with none of those, the service's username (a create would make it).
 */
async function tenantAdminOf(tx: Tx, domainUuid: string, serviceUsername: string | undefined): Promise<string> {
  const users = await selectRows(
    tx,
    `select u.username, exists (select 1 from v_user_groups g where g.user_uuid = u.user_uuid and g.group_name = 'admin') as is_admin
     from v_users u where u.domain_uuid = $1 order by u.username, u.user_uuid`,
    [domainUuid],
  );
  const named = (name: string | undefined) => (name ? users.find((user) => user.username === name)?.username : undefined);
  return named(serviceUsername) ?? named('admin') ?? users.find((user) => user.is_admin === 'true')?.username ?? (serviceUsername || 'admin');
}

const truthy = (value: unknown) => value === true || value === 'true';

export async function adoptDomain(pool: Pool, domainName: string, serviceId: number, options: AdoptDomainOptions): Promise<DomainAdoption> {
  const service = String(serviceId);
  return inTransaction(
    pool,
    null,
    async (tx) => {
      // The same locks as provisioning: a create of the same service or domain waits for this one.
      await lockService(tx, service);
      await lockKey(tx, domainLockKey(domainName));
      const domain = await findDomainByName(tx, domainName);
      if (!domain) return { outcome: 'no-domain' } as const;
      const domainUuid = domain.domain_uuid as string;
      const name = domain.domain_name as string;
      await lockDomainRow(tx, domainUuid);
      const owner = await ownerOf(tx, domainUuid);
      if (owner === service) return { outcome: 'already-tagged', domainUuid, domainName: name, gatewayUuid: null } as const;
      if (owner !== null) return { outcome: 'owned', domainName: name, owner } as const;
      if (!truthy(domain.domain_enabled)) return { outcome: 'disabled', domainName: name } as const;
      const gatewayUuid = await planGatewayOf(tx, domainUuid, options.gatewayName);
      const state: TenantState = {
        status: 'active',
        generation: 1,
        adminUsername: await tenantAdminOf(tx, domainUuid, options.serviceUsername),
        gatewayUuid,
        suspendMemory: null,
        surplusDisabled: [],
        terminatedAt: null,
        outboundRoutes: [],
        trunkNodes: [],
      };
      await writeTag(tx, domainUuid, service);
      await writeState(tx, domainUuid, state);
      return { outcome: options.dryRun ? 'would-adopt' : 'adopted', domainUuid, domainName: name, gatewayUuid } as const;
    },
    { rollback: options.dryRun },
  );
}
