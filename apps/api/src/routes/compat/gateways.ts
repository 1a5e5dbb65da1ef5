import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import Joi from 'joi';
import { listTenantGateways, type GatewayFields, type GatewayView } from '@ictvoip/fusionpbx';
import { isGatewayNotRunning, parseGatewayStatus } from '@ictvoip/freeswitch';
import { HttpError } from '../../errors';
import type { Principal } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import { GATEWAY_FIELDS, splitPassword } from '../v1/gateways';
import { isFinishedWrite, performWrite, writeFailure } from '../v1/tenant-write';
import { requireDomainScope, type TenantContext } from '../v1/tenant-context';
import { withEslDeadline } from '../v1/freeswitch';
import { formField } from './auth';
import { invalidParameter, missingParameter, sendSuccess } from './envelope';
import { namedTenant, tenantsInScope } from './tenants';

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

/**
 * `/app/gateways/provision.php`: configures the tenant's gateway of that name: created when the
 * tenant has none, changed when it has one (so the same request twice is one gateway). The write is
 * a /v1 tenant write: the same job, service lock, quota and audit row (tenant_writes).
 */
export async function provisionGateway(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const fields = provisionFields(req);
  const context = await namedTenant(deps, principal, req, TENANT_FIELDS);
  const { deps: scoped, domain } = requireDomainScope(context);
  const existing = (await listTenantGateways(scoped.fusionPool, domain.domainUuid, domain.managedGatewayUuid)).find((gateway) => gateway.name === fields.name);
  if (existing?.managed) throw new HttpError(409, 'GATEWAY_MANAGED', `gateway ${fields.name} is the plan's gateway; change it through the WHMCS product`);
  const request = existing
    ? { resource: 'gateway' as const, operation: 'update' as const, target: existing.gatewayUuid, ...splitPassword(fields) }
    : { resource: 'gateway' as const, operation: 'create' as const, target: null, ...splitPassword({ register: true, ...fields }) };
  // Only a create chooses its uuid; an update's target is the gateway found.
  const write = await performWrite(context, res, request, () => (existing ? {} : { target: randomUUID() }));
  const answer = { gateway_uuid: write.target ?? '', gateway_name: fields.name, gateway_domain: fields.proxy };
  if (!isFinishedWrite(write)) {
    return sendSuccess(
      res,
      'Gateway configuration queued',
      { ...answer, gateway_enabled: enabledText(existing?.enabled ?? true), job_id: write.writeId, job_url: `/v1/jobs/${write.writeId}` },
      202,
    );
  }
  const failure = writeFailure(write);
  if (failure) throw failure;
  const gateway = (write.result as { gateway?: GatewayView | null } | null)?.gateway;
  sendSuccess(res, 'Gateway configured successfully', { ...answer, gateway_enabled: enabledText(gateway?.enabled ?? true) });
}

/** ictVoIP's `gateway_status`: FreeSWITCH's ping status ("UP" / "DOWN"); "DOWN" when it does not run the gateway. */
async function gatewayStatus(context: TenantContext, gateway: GatewayView): Promise<string> {
  if (!gateway.enabled) return 'DOWN';
  try {
    return await withEslDeadline(context.deps, async () => {
      const body = await context.deps.esl.api(`sofia xmlstatus gateway ${gateway.gatewayUuid}`, { allowErr: true });
      if (isGatewayNotRunning(body)) return 'DOWN';
      const status = parseGatewayStatus(body);
      return status.running ? (status.status ?? 'UNKNOWN') : 'DOWN';
    });
  } catch {
    // The list still answers when FreeSWITCH does not; the state is then unknown, not down.
    return 'UNKNOWN';
  }
}

/** `/app/gateways/provision_list.php`: the gateways of the named tenant, or of every tenant the caller may see. */
export async function listGateways(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const gateways: Record<string, string>[] = [];
  for (const context of await tenantsInScope(deps, principal, req, TENANT_FIELDS)) {
    const { deps: scoped, domain } = requireDomainScope(context);
    for (const gateway of await listTenantGateways(scoped.fusionPool, domain.domainUuid, domain.managedGatewayUuid)) {
      gateways.push({
        gateway_uuid: gateway.gatewayUuid,
        gateway_name: gateway.name,
        gateway_domain: gateway.proxy ?? '',
        gateway_enabled: enabledText(gateway.enabled),
        gateway_status: await gatewayStatus(context, gateway),
        tenant_domain: domain.domainName,
      });
    }
  }
  sendSuccess(res, 'Gateways retrieved successfully', { gateways });
}
