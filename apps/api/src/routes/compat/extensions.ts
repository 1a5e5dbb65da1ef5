import type { Request, Response } from 'express';
import Joi from 'joi';
import { getTenantExtension, newSipPassword, tenantExtensionPassword, type ExtensionFields, type ExtensionView } from '@ictvoip/fusionpbx';
import type { TenantWrite } from '@ictvoip/store';
import { HttpError } from '../../errors';
import type { Principal } from '../../api-keys/principal';
import type { ApiDeps } from '../../deps';
import { extensionNumber } from '../v1/common-schemas';
import { EXTENSION_FIELDS } from '../v1/extensions';
import { isFinishedWrite, passwordShown, performWrite, sealedExtensionPassword, writeFailure, type WriteRequest } from '../v1/tenant-write';
import { requireDomainScope, type TenantContext } from '../v1/tenant-context';
import { formField } from './auth';
import { jobStatusUrl } from './job-status';
import { invalidParameter, missingParameter, sendSuccess } from './envelope';
import { namedTenant } from './tenants';

const ACTIONS = ['create', 'update', 'enable', 'disable', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

/** FusionPBX's own column names (what an ictVoIP script sends) → the /v1 extension field. */
const OPTIONAL_FIELDS = {
  effective_caller_id_name: 'callerIdName',
  effective_caller_id_number: 'callerIdNumber',
  outbound_caller_id_name: 'outboundCallerIdName',
  outbound_caller_id_number: 'outboundCallerIdNumber',
  description: 'description',
} as const;
type OptionalField = keyof typeof OPTIONAL_FIELDS;

const fieldsSchema = Joi.object(Object.fromEntries(Object.values(OPTIONAL_FIELDS).map((key) => [key, EXTENSION_FIELDS[key]])));

function actionOf(req: Request): Action {
  const action = formField(req, 'action');
  if (!action) throw missingParameter('action');
  const normalised = action.trim().toLowerCase();
  if (!(ACTIONS as readonly string[]).includes(normalised)) throw invalidParameter('action', `must be one of ${ACTIONS.join(', ')}`);
  return normalised as Action;
}

function extensionOf(req: Request): string {
  const extension = formField(req, 'extension');
  if (!extension) throw missingParameter('extension');
  if (extensionNumber.validate(extension).error) throw invalidParameter('extension', 'must be 2 to 15 digits');
  return extension;
}

function optionalFields(req: Request): ExtensionFields {
  const values: Record<string, string> = {};
  for (const field of Object.keys(OPTIONAL_FIELDS) as OptionalField[]) {
    const value = formField(req, field);
    if (value !== undefined) values[OPTIONAL_FIELDS[field]] = value;
  }
  const { error, value } = fieldsSchema.validate(values, { abortEarly: true, errors: { wrap: { label: false } } });
  if (error) {
    const key = String(error.details[0]!.path[0]);
    const form = (Object.keys(OPTIONAL_FIELDS) as OptionalField[]).find((field) => OPTIONAL_FIELDS[field] === key) ?? key;
    throw invalidParameter(form, error.details[0]!.message.replace(/^"?[A-Za-z]+"? /, ''));
  }
  return value as ExtensionFields;
}

function writeRequest(action: Action, extension: string, fields: ExtensionFields): WriteRequest {
  if (action === 'delete') return { resource: 'extension', operation: 'delete', target: extension, input: { deleteVoicemail: false } };
  const enabled = action === 'enable' ? { enabled: true } : action === 'disable' ? { enabled: false } : {};
  return { resource: 'extension', operation: 'upsert', target: extension, input: { fields: { ...fields, ...enabled } } };
}

const MESSAGES: Record<string, string> = {
  created: 'Extension created successfully',
  updated: 'Extension updated successfully',
  unchanged: 'Extension unchanged',
  deleted: 'Extension deleted successfully',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `extension_uuid` (what create answers), optional: when sent it must be a uuid, and the extension
 * of that number must be that one. An empty or malformed one is refused, never read as "any".
 */
function extensionUuidOf(req: Request): string | undefined {
  const uuid = formField(req, 'extension_uuid');
  if (uuid !== undefined && !UUID.test(uuid.trim())) throw invalidParameter('extension_uuid', "must be the extension's uuid (as create answered it), or left out");
  return uuid?.trim().toLowerCase();
}

async function requireExisting(context: TenantContext, extension: string, uuid: string | undefined): Promise<void> {
  const { deps, domain } = requireDomainScope(context);
  const found = await getTenantExtension(deps.fusion.pool, domain.domainUuid, extension);
  if (!found) throw new HttpError(404, 'NOT_FOUND', `extension ${extension} not found in ${domain.domainName}`);
  if (uuid !== undefined && found.extensionUuid.toLowerCase() !== uuid) {
    throw new HttpError(404, 'NOT_FOUND', `extension ${extension} with extension_uuid ${uuid} not found in ${domain.domainName}`);
  }
}

/**
 * A queued `create` (an upsert: a repeat leaves the extension as it is) answers the SIP password it
 * makes the extension with, as a create answered at once does: when no extension of that number is
 * there yet, or the one there has this write's password (this write made it). An extension that
 * exists with another password keeps it (the job's outcome is `unchanged`): none is shown. The job
 * URL never shows it.
 */
async function queuedCreatePassword(context: TenantContext, write: TenantWrite, extension: string): Promise<string | null> {
  const password = sealedExtensionPassword(context, write);
  if (!password) return null;
  const { deps, domain } = requireDomainScope(context);
  return (await tenantExtensionPassword(deps.fusion.pool, domain.domainUuid, extension, password)) === 'other' ? null : password;
}

/**
 * `/app/extensions/manage.php` (`action`, `extension`, `domain`): `create` makes the extension or
 * leaves an existing one as it is (so a repeated create is one extension), `update` / `enable` /
 * `disable` change an existing one, `delete` removes it (its mailbox stays). Optional fields use
 * FusionPBX's column names. Each is a /v1 tenant write: same job, lock, quota and audit row.
 */
export async function manageExtension(deps: ApiDeps, principal: Principal, req: Request, res: Response): Promise<void> {
  const action = actionOf(req);
  const extension = extensionOf(req);
  const uuid = extensionUuidOf(req);
  const fields = action === 'delete' ? {} : optionalFields(req);
  const context = await namedTenant(deps, principal, req, ['domain', 'tenant_domain']);
  const domainName = requireDomainScope(context).domain.domainName;
  if (action !== 'create' || uuid !== undefined) await requireExisting(context, extension, uuid);
  const write = await performWrite(context, res, writeRequest(action, extension, fields), () => ({ secrets: { password: newSipPassword() } }));
  const answer = { action, extension, domain: domainName };
  if (!isFinishedWrite(write)) {
    const password = action === 'create' ? await queuedCreatePassword(context, write, extension) : passwordShown(context, write);
    return sendSuccess(res, 'Extension change queued', { ...answer, job_id: write.writeId, job_url: jobStatusUrl(write.writeId), ...(password ? { password } : {}) }, 202);
  }
  const failure = writeFailure(write);
  if (failure) throw failure;
  const result = (write.result ?? {}) as { outcome?: string; extension?: ExtensionView | null };
  const password = passwordShown(context, write);
  sendSuccess(res, MESSAGES[result.outcome ?? ''] ?? 'Extension saved', {
    ...answer,
    extension_uuid: result.extension?.extensionUuid ?? '',
    enabled: result.extension ? (result.extension.enabled ? 'true' : 'false') : 'false',
    ...(password ? { password } : {}),
  });
}
