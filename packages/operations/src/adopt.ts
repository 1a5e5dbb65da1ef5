import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { adoptDomain, gatewayTemplateName, type DomainAdoption } from '@ictvoip/fusionpbx';
import { AuditRepository, inTransaction, ServicesRepository, type ServiceRecord } from '@ictvoip/store';
import { IctvoipFormatError, parseIctvoipDomainField, planOverridesFromOptions, STORED_PACKAGE_KEY, type WhmcsApiClient, type WhmcsClientProduct } from '@ictvoip/whmcs';
import { NIL_UUID } from './cdr-reader';
import { buildDriftReport, desiredFromWhmcs, type DriftItem, type DriftSources } from './drift-report';

/**
 * `ictvoip adopt`: takes over tenants another system (ictVoIP) made, one WHMCS service at a time.
 * For each service of the chosen products it finds the FusionPBX domain named by the service's
 * Domain field (ictVoIP's "domain | DID" form read), tags it as the bridge's (the two bookkeeping
 * settings; no tenant row is written), records the service in the bridge's database with its CDR
 * cursor and billing floor at `cdrFrom` (no call before it is billed: the old system billed those),
 * and reports the drift between the plan and FusionPBX. The domain's one gateway named as the plan's
 * gateway template is recorded as the plan's gateway (change_package then rewrites it from the template). Each service is done whole or not at all;
 * run again, done services are skipped with their reason, so an interrupted run resumes.
 */

export interface AdoptOptions {
  apply: boolean;
  /** The first call start the bridge bills (the switch-over from the old autobill). */
  cdrFrom: Date;
  /** WHMCS product ids whose services are adopted (the module's products). */
  pids: readonly number[];
  /** The FusionPBX server the tenants live on (stored name; null = the default server). */
  server: string | null;
  /** Called once per service, in order; a throw stops the run (the service's own work is done or not at all). */
  onProgress?: (line: AdoptLine) => void | Promise<void>;
  /** The products' gateway template key (their module setting *Gateway template*); a service's configurable option `gatewayTemplate` wins. */
  gatewayTemplate?: string;
  /** PROVISIONING_FILE's gateway templates: the gateway name a key writes (`name`, else the key). */
  gatewayTemplates?: Readonly<Record<string, { name?: string }>>;
}

export interface AdoptDeps {
  pool: Pool;
  whmcs: WhmcsApiClient;
  /** The database of `server`'s FusionPBX. */
  fusionPool: Pool;
}

export type AdoptOutcome = 'adopted' | 'would-adopt' | 'skipped';

export interface AdoptLine {
  serviceId: number;
  domain: string | null;
  outcome: AdoptOutcome;
  /** Why a service was skipped. */
  reason?: string;
  /** The domain's gateway taken over as the plan's (named as the plan's gateway template). */
  gatewayUuid?: string;
}

export interface AdoptSummary {
  apply: boolean;
  cdrFrom: string;
  services: number;
  adopted: number;
  wouldAdopt: number;
  skipped: number;
  /** Adopted (or, dry run, to be adopted) services whose gateway named as the plan's template became the plan's gateway. */
  planGateways: number;
  /** Skipped services by reason kind. */
  skippedBy: Record<string, number>;
  /** Differences between the adopted tenants' plans and FusionPBX (and WHMCS), for `reconcile --fix`. */
  drift: DriftItem[];
}

const PAGE = 250;
const ACTOR = 'ictvoip-adopt';

async function* servicesOf(whmcs: WhmcsApiClient, pid: number): AsyncGenerator<WhmcsClientProduct> {
  for (let start = 0; ; start += PAGE) {
    const page = await whmcs.getClientsProducts({ pid, limitStart: start, limitNum: PAGE });
    yield* page.items;
    if (page.items.length < PAGE || start + page.items.length >= page.totalResults) return;
  }
}

/** The reasons a service is not adopted, with the key the summary counts it under. */
function skip(product: WhmcsClientProduct, domain: string | null, kind: string, reason: string): AdoptLine & { kind: string } {
  return { serviceId: product.id, domain, outcome: 'skipped', reason, kind };
}

function bridgeConflict(existing: ServiceRecord | null, server: string | null): { kind: string; reason: string } | null {
  if (!existing) return null;
  if (existing.adoptedAt) return { kind: 'already-adopted', reason: `already adopted on ${existing.adoptedAt.toISOString()}` };
  if (existing.fusionpbxServer !== server) return { kind: 'other-server', reason: `owned by FusionPBX server ${existing.fusionpbxServer ?? 'default'}` };
  return { kind: 'already-managed', reason: 'already managed by the bridge (created through it)' };
}

function fusionConflict(adoption: DomainAdoption, domain: string, server: string | null): { kind: string; reason: string } | null {
  if (adoption.outcome === 'no-domain') return { kind: 'no-domain', reason: `no FusionPBX domain ${domain} on server ${server ?? 'default'}` };
  if (adoption.outcome === 'disabled') return { kind: 'disabled', reason: `FusionPBX domain ${domain} is disabled; enable it in FusionPBX first, or leave it` };
  if (adoption.outcome === 'owned') return { kind: 'owned', reason: `FusionPBX domain ${domain} belongs to service ${adoption.owner}` };
  return null;
}

function planOf(product: WhmcsClientProduct): Record<string, unknown> {
  const options = Object.fromEntries(product.configOptions.map((option) => [option.option, option.value]));
  return { ...planOverridesFromOptions(options), [STORED_PACKAGE_KEY]: product.pid };
}

/** The gateway name the service's plan gateway template writes (as the provisioner names it), if the plan has one. */
function planGatewayName(product: WhmcsClientProduct, options: AdoptOptions): string | undefined {
  const own = planOf(product).gatewayTemplate;
  const key = typeof own === 'string' && own !== '' ? own : options.gatewayTemplate;
  return key ? gatewayTemplateName(key, options.gatewayTemplates?.[key]) : undefined;
}

/** The bridge's side of one adopted service, in one transaction: service row, billing floor, CDR cursor, audit. */
async function recordAdoption(pool: Pool, product: WhmcsClientProduct, domainName: string, domainUuid: string, options: AdoptOptions): Promise<void> {
  const client = await pool.connect();
  try {
    await inTransaction(client, async () => {
      const services = new ServicesRepository(client);
      const desired = desiredFromWhmcs(product.status) === 'suspended' ? 'suspended' : 'active';
      await services.setDesired({
        serviceId: product.id,
        clientId: product.clientId,
        desiredState: desired,
        plan: planOf(product),
        eventId: randomUUID(),
        fusionpbxServer: options.server,
      });
      await services.recordObserved(product.id, { state: 'active', tenantDomain: domainName, properties: { pbxDomain: domainName } });
      await services.markAdopted(product.id, options.cdrFrom);
      await client.query(
        `INSERT INTO cdr_sync_cursors (service_id, domain_uuid, domain_name, last_start_stamp, last_xml_cdr_uuid)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service_id) DO NOTHING`,
        [product.id, domainUuid, domainName, options.cdrFrom.toISOString(), NIL_UUID],
      );
      await new AuditRepository(client).append({
        actor: ACTOR,
        action: 'adopt',
        serviceId: product.id,
        detail: { domain: domainName, server: options.server, cdrFrom: options.cdrFrom.toISOString(), whmcsStatus: product.status },
      });
    });
  } finally {
    client.release();
  }
}

async function adoptOne(deps: AdoptDeps, product: WhmcsClientProduct, options: AdoptOptions): Promise<AdoptLine & { kind: string }> {
  const desired = desiredFromWhmcs(product.status);
  // Active and Suspended services have a tenant to take over; Pending, Terminated, Cancelled, Fraud not.
  if (desired !== 'active' && desired !== 'suspended') return skip(product, null, 'status', `WHMCS status ${product.status}`);
  let domain: string;
  try {
    domain = parseIctvoipDomainField(product.domain, 'domain').domain;
  } catch (error) {
    if (!(error instanceof IctvoipFormatError)) throw error;
    return skip(product, null, 'bad-domain', product.domain.trim() === '' ? 'no domain in WHMCS' : error.message);
  }
  const existing = await new ServicesRepository(deps.pool).get(product.id);
  const conflict = bridgeConflict(existing, options.server);
  if (conflict) return skip(product, domain, conflict.kind, conflict.reason);
  const { rows } = await deps.pool.query<{ service_id: string }>('SELECT service_id FROM services WHERE lower(tenant_domain) = lower($1)', [domain]);
  if (rows[0]) return skip(product, domain, 'domain-taken', `the bridge has domain ${domain} as service ${rows[0].service_id}`);
  const adoption = await adoptDomain(deps.fusionPool, domain, product.id, {
    dryRun: !options.apply,
    serviceUsername: product.username.trim() || undefined,
    gatewayName: planGatewayName(product, options),
  });
  const refused = fusionConflict(adoption, domain, options.server);
  if (refused || !('domainUuid' in adoption)) return skip(product, domain, refused?.kind ?? 'no-domain', refused?.reason ?? 'no domain');
  const gateway = adoption.gatewayUuid ? { gatewayUuid: adoption.gatewayUuid } : {};
  if (!options.apply) return { serviceId: product.id, domain: adoption.domainName, outcome: 'would-adopt', kind: 'would-adopt', ...gateway };
  await recordAdoption(deps.pool, product, adoption.domainName, adoption.domainUuid, options);
  return { serviceId: product.id, domain: adoption.domainName, outcome: 'adopted', kind: 'adopted', ...gateway };
}

export async function adoptTenants(deps: AdoptDeps, options: AdoptOptions): Promise<AdoptSummary> {
  const summary: AdoptSummary = {
    apply: options.apply,
    cdrFrom: options.cdrFrom.toISOString(),
    services: 0,
    adopted: 0,
    wouldAdopt: 0,
    skipped: 0,
    planGateways: 0,
    skippedBy: {},
    drift: [],
  };
  const touched = new Set<number>();
  for (const pid of options.pids) {
    for await (const product of servicesOf(deps.whmcs, pid)) {
      const { kind, ...line } = await adoptOne(deps, product, options);
      summary.services += 1;
      if (line.outcome === 'adopted') summary.adopted += 1;
      if (line.outcome === 'would-adopt') summary.wouldAdopt += 1;
      if (line.gatewayUuid) summary.planGateways += 1;
      if (line.outcome === 'skipped') {
        summary.skipped += 1;
        summary.skippedBy[kind] = (summary.skippedBy[kind] ?? 0) + 1;
      }
      if (line.outcome === 'adopted' || kind === 'already-adopted') touched.add(product.id);
      await options.onProgress?.(line);
    }
  }
  if (options.apply && touched.size > 0) summary.drift = await adoptedDrift(deps, options.server, touched);
  return summary;
}

/** The drift report (packages/operations drift-report) narrowed to the adopted services. */
async function adoptedDrift(deps: AdoptDeps, server: string | null, serviceIds: ReadonlySet<number>): Promise<DriftItem[]> {
  const sources: DriftSources =
    server === null
      ? { pool: deps.pool, fusionPool: deps.fusionPool, whmcs: deps.whmcs }
      : { pool: deps.pool, fusionPool: deps.fusionPool, servers: new Map([[server, deps.fusionPool]]), whmcs: deps.whmcs };
  const report = await buildDriftReport(sources);
  return report.items.filter((item) => item.serviceId !== null && serviceIds.has(item.serviceId));
}
