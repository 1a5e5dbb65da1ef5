import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import Joi from 'joi';
import { listGlobalGateways, listTenantGateways, type GatewayFields, type GatewayView } from '@ictvoip/fusionpbx';
import { GLOBAL_WRITE_SERVICE_ID, type TenantWrite } from '@ictvoip/store';
import { isGatewayNotRunning, parseGatewayStatus } from '@ictvoip/freeswitch';
import { HttpError } from '../../errors';
import { tenantOf, type Principal } from '../../api-keys/principal';
import type { ApiDeps, ScopedApiDeps } from '../../deps';
import { scopeForServer } from '../../fusion-scope';
import { GATEWAY_FIELDS, splitPassword } from '../v1/gateways';
import { isFinishedWrite, performScopedWrite, performWrite, writeFailure, type WriteRequest } from '../v1/tenant-write';
import { requireDomainScope } from '../v1/tenant-context';
import { refuseGatewayWhileCreditRestricted } from '../v1/credit-restriction';
import { withEslDeadline } from '../v1/freeswitch';
import { formField } from './auth';
import { jobStatusUrl } from './job-status';
import { CompatError, invalidParameter, missingParameter, sendSuccess } from './envelope';
import { domainField, namedTenant, tenantsInScope, unavailableServersField } from './tenants';
import { ServerAnswers } from '../../server-answers';
import { globalServer, globalServersInScope, mayUseGlobal, SERVER_FIELD } from './global-servers';

const TENANT_FIELDS = ['tenant_domain', 'domain'] as const;

/** ictVoIP's form field → the /v1 gateway field it fills. */
const FORM_FIELDS = { gateway_name: 'name', gateway_domain: 'proxy', gateway_username: 'username', gateway_password: 'password' } as const;
type FormField = keyof typeof FORM_FIELDS;

const provisionSchema = Joi.object({
  name: GATEWAY_FIELDS.name.required(),
  proxy: GATEWAY_FIELDS.proxy.required(),
  username: GATEWAY_FIELDS.username.required(),
  password: GATEWAY_FIELDS.password.required(),
});

/** The form's gateway, validated by /v1's rules; a problem names ictVoIP's field. */
function provisionFields(req: Request): GatewayFields & { name: string; proxy: string } {
  const values: Record<string, string> = {};
  for (const field of Object.keys(FORM_FIELDS) as FormField[]) {
    const value = formField(req, field);
    if (value === undefined || value === '') throw missingParameter(field);
    values[FORM_FIELDS[field]] = value;
  }
  const { error, value } = provisionSchema.validate(values, { abortEarly: true, errors: { wrap: { label: false } } });
  if (error) {
    const key = String(error.details[0]!.path[0]);
    const form = (Object.keys(FORM_FIELDS) as FormField[]).find((field) => FORM_FIELDS[field] === key) ?? key;
    throw invalidParameter(form, error.details[0]!.message.replace(/^"?[A-Za-z]+"? /, ''));
  }
  return value as GatewayFields & { name: string; proxy: string };
}

const enabledText = (enabled: boolean) => (enabled ? 'true' : 'false');

type ProvisionFields = GatewayFields & { name: string; proxy: string };

/** The write for the form: a change of the gateway of that name when there is one, else a create. */
function provisionRequest(fields: ProvisionFields, existing: GatewayView | undefined): WriteRequest {
  return existing
    ? { resource: 'gateway', operation: 'update', target: existing.gatewayUuid, ...splitPassword(fields) }
    : { resource: 'gateway', operation: 'create', target: null, ...splitPassword({ register: true, ...fields }) };
}

const FREESWITCH_PENDING = 'Gateway configured in FusionPBX; FreeSWITCH not yet: a worker applies it once the event socket answers (job_url)';

/** ictVoIP's answer from the write as it stands: configured, queued (202 with the job), or its refusal. */
function sendProvisioned(res: Response, write: TenantWrite, fields: ProvisionFields, existing: GatewayView | undefined): void {
  const answer = { gateway_uuid: write.target ?? '', gateway_name: fields.name, gateway_domain: fields.proxy };
  if (!isFinishedWrite(write)) {
    return sendSuccess(
      res,
      'Gateway configuration queued',
      { ...answer, gateway_enabled: enabledText(existing?.enabled ?? true), job_id: write.writeId, job_url: jobStatusUrl(write.writeId) },
      202,
    );
  }
  const failure = writeFailure(write);
  if (failure) throw failure;
  const result = write.result as { gateway?: GatewayView | null; freeswitch?: { applied?: boolean; job?: { id: string } } } | null;
  const configured = { ...answer, gateway_enabled: enabledText(result?.gateway?.enabled ?? true) };
  const job = result?.freeswitch?.applied === false ? result.freeswitch.job : undefined;
  // Saved in FusionPBX, FreeSWITCH not told yet (its job retries): a success to poll, never an error to send again.
  if (job) return sendSuccess(res, FREESWITCH_PENDING, { ...configured, job_id: job.id, job_url: jobStatusUrl(job.id) }, 202);
  sendSuccess(res, 'Gateway configured successfully', configured);
}

// Only a create chooses its uuid; an update's target is the gateway found.
const chosenUuid = (existing: GatewayView | undefined) => () => (existing ? {} : { target: randomUUID() });

/**
 * A form naming no tenant, from the operator or a FusionPBX superadmin: the switch's own gateway, as
 * ictVoIP (run by the superadmin) writes it. A tenant key naming none keeps to its own tenant, and
 * one asking for a server is refused.
 */
function isGlobalRequest(principal: Principal, req: Request): boolean {
  if (domainField(req, TENANT_FIELDS)) return false;
  if (tenantOf(principal) === null) return true;
  const server = formField(req, SERVER_FIELD);
  if (server !== undefined && server !== '') throw new CompatError(403, 'FORBIDDEN', 'Access Denied: a tenant API key cannot write global gateways');
  return false;
}

/**
 * `/app/gateways/provision.php`: configures the gateway of that name, created when there is none,
 * changed when there is one (so the same request twice is one gateway). With a tenant: the tenant's
 * gateway, a /v1 tenant write (the same job, service lock, quota and audit row in tenant_writes).
 * Without: a global gateway (domain "Global" on FusionPBX's gateway page) of the caller's server,
 * through the same job and tenant_writes row, under the server's lock.
 */
export async function provisionGateway(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const fields = provisionFields(req);
  if (isGlobalRequest(principal, req)) return provisionGlobalGateway(deps, principal, req, res, fields);
  const context = await namedTenant(deps, principal, req, TENANT_FIELDS);
  const { deps: scoped, domain } = requireDomainScope(context);
  const existing = (await listTenantGateways(scoped.fusion.pool, domain.domainUuid, domain.managedGatewayUuid)).find((gateway) => gateway.name === fields.name);
  if (existing?.managed) throw new HttpError(409, 'GATEWAY_MANAGED', `gateway ${fields.name} is the plan's gateway; change it through the WHMCS product`);
  if (!existing) await refuseGatewayWhileCreditRestricted(context, `a new gateway ${fields.name}`);
  const write = await performWrite(context, res, provisionRequest(fields, existing), chosenUuid(existing));
  sendProvisioned(res, write, fields, existing);
}

async function provisionGlobalGateway(deps: ApiDeps, principal: Principal, req: Request, res: Response, fields: ProvisionFields): Promise<void> {
  const server = await globalServer(deps, principal, req);
  const scoped = await scopeForServer(deps, server);
  const existing = (await listGlobalGateways(scoped.fusion.pool)).find((gateway) => gateway.name === fields.name);
  const request = provisionRequest(fields, existing);
  // The server is part of the request: the worker writes there, and the write id differs per server.
  const write = await performScopedWrite({ deps: scoped, serviceId: GLOBAL_WRITE_SERVICE_ID }, res, { ...request, input: { ...request.input, server } }, chosenUuid(existing));
  sendProvisioned(res, write, fields, existing);
}

/** ictVoIP's `gateway_status`: FreeSWITCH's ping status ("UP" / "DOWN"); "DOWN" when it does not run the gateway. */
async function gatewayStatus(deps: ScopedApiDeps, gateway: GatewayView): Promise<string> {
  if (!gateway.enabled) return 'DOWN';
  try {
    return await withEslDeadline(deps, async () => {
      const body = await deps.fusion.esl.api(`sofia xmlstatus gateway ${gateway.gatewayUuid}`, { allowErr: true });
      if (isGatewayNotRunning(body)) return 'DOWN';
      const status = parseGatewayStatus(body);
      return status.running ? (status.status ?? 'UNKNOWN') : 'DOWN';
    });
  } catch {
    // The list still answers when FreeSWITCH does not; the state is then unknown, not down.
    return 'UNKNOWN';
  }
}

function listEntry(gateway: GatewayView, status: string, tenantDomain: string): Record<string, string> {
  return {
    gateway_uuid: gateway.gatewayUuid,
    gateway_name: gateway.name,
    gateway_domain: gateway.proxy ?? '',
    gateway_enabled: enabledText(gateway.enabled),
    gateway_status: status,
    tenant_domain: tenantDomain,
  };
}

/** The global gateways (tenant_domain "") of the servers the caller has, when the form names no tenant. */
async function globalEntries(deps: ApiDeps, principal: Principal, req: Request, answers: ServerAnswers): Promise<Record<string, string>[]> {
  if (domainField(req, TENANT_FIELDS) || !mayUseGlobal(principal)) return [];
  const entries: Record<string, string>[] = [];
  for (const server of await globalServersInScope(deps, principal)) {
    const found = await answers.attempt(server, async () => {
      const scoped = await scopeForServer(deps, server);
      return Promise.all((await listGlobalGateways(scoped.fusion.pool)).map(async (gateway) => listEntry(gateway, await gatewayStatus(scoped, gateway), '')));
    });
    entries.push(...(found ?? []));
  }
  return entries;
}

/**
 * `/app/gateways/provision_list.php`: the gateways of the named tenant; naming none, the global
 * gateways (for the operator or a superadmin) then those of every tenant the caller may see.
 */
export async function listGateways(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const answers = new ServerAnswers(deps.logger);
  const gateways = await globalEntries(deps, principal, req, answers);
  for (const context of await tenantsInScope(deps, principal, req, TENANT_FIELDS, answers)) {
    const { deps: scoped, domain } = requireDomainScope(context);
    const found = await answers.attempt(context.service.fusionpbxServer, async () => {
      const entries: Record<string, string>[] = [];
      for (const gateway of await listTenantGateways(scoped.fusion.pool, domain.domainUuid, domain.managedGatewayUuid)) {
        entries.push(listEntry(gateway, await gatewayStatus(scoped, gateway), domain.domainName));
      }
      return entries;
    });
    gateways.push(...(found ?? []));
  }
  sendSuccess(res, 'Gateways retrieved successfully', { gateways, ...unavailableServersField(answers) });
}
