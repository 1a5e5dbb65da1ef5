import {
  destinationWriteOptions,
  listTenantDestinations,
  listTenantExtensions,
  mailboxIdOf,
  tenantVoicemailCounts,
  type ExtensionView,
  type VoicemailCount,
} from '@ictvoip/fusionpbx';
import { getCreditState, RegistrationsRepository, type RegistrationState } from '@ictvoip/store';
import type { ApiDeps } from '../../deps';
import { requireDomain, type TenantContext } from '../v1/tenant-context';

export interface ClientPhone {
  extension: string;
  name: string;
  enabled: boolean;
  registered: boolean;
  lost: boolean;
  device: string;
  since: string | null;
  /** null when the extension has no mailbox. */
  voicemail: { new: number; saved: number } | null;
}

function phoneOf(extension: ExtensionView, state: RegistrationState | undefined, voicemail: VoicemailCount | undefined): ClientPhone {
  const registered = state?.registered ?? false;
  // Registered: since the first poll that saw it; not registered: since it went missing (last change).
  const since = registered ? (state?.firstSeen ?? state?.lastChange) : state?.lastChange;
  return {
    extension: extension.extension,
    name: extension.callerIdName ?? extension.description ?? '',
    enabled: extension.enabled,
    registered,
    lost: state?.lost ?? false,
    device: state?.userAgent ?? '',
    since: since ? since.toISOString() : null,
    voicemail: voicemail ? { new: voicemail.newMessages, saved: voicemail.savedMessages } : null,
  };
}

/** The tenant's extensions with their last polled registration (no event socket asked) and voicemail counts. */
export async function phonesOf(deps: ApiDeps, context: TenantContext): Promise<ClientPhone[]> {
  const domain = requireDomain(context);
  const [extensions, states, mailboxes] = await Promise.all([
    listTenantExtensions(context.deps.fusion.pool, domain.domainUuid),
    new RegistrationsRepository(deps.pool).states(context.service.serviceId),
    tenantVoicemailCounts(context.deps.fusion.pool, domain.domainUuid),
  ]);
  const byExtension = new Map(states.map((state) => [state.extension, state]));
  const byMailbox = new Map(mailboxes.map((count) => [count.mailbox, count]));
  // An extension with a numeric alias has the alias's mailbox (as FusionPBX's directory reads it).
  return extensions.map((extension) => phoneOf(extension, byExtension.get(extension.extension), byMailbox.get(mailboxIdOf(extension.extension, extension.numberAlias))));
}

export interface ClientNumber {
  number: string;
  e164: string | null;
  /** Where calls to the number go, e.g. `extension 100`; null when it has no action. */
  destination: string | null;
  enabled: boolean;
  description: string | null;
}

/** The tenant's inbound numbers (FusionPBX destinations) and where each rings. */
export async function numbersOf(context: TenantContext): Promise<ClientNumber[]> {
  const domain = requireDomain(context);
  const { numberPlan } = destinationWriteOptions(context.service.serviceId, context.service.plan as Record<string, unknown>);
  const destinations = await listTenantDestinations(context.deps.fusion.pool, domain.domainUuid, numberPlan);
  return destinations.map((row) => ({
    number: row.number,
    e164: row.e164,
    destination: row.action ? (row.action.type === 'other' ? row.action.raw : `${row.action.type.replace(/_/g, ' ')} ${row.action.target ?? ''}`.trim()) : null,
    enabled: row.enabled,
    description: row.description,
  }));
}

export interface ClientCredit {
  /** What happens at zero: `suspend` the service or block `outbound` calls. */
  mode: string | null;
  state: string;
  available: string | null;
  /** Available credit under which the low-balance reminder goes out (module setting 14). */
  threshold: string;
  /** Postpaid with a credit limit: how far below zero the balance may go; null for prepaid. */
  creditLimit: string | null;
  currency: string | null;
  restricted: boolean;
  lastCheckedAt: string | null;
  lastMail: { kind: string; state: string; at: string } | null;
}

/** The most recent credit mail of each asked service (low / zero balance reminders). */
export async function lastCreditMails(deps: ApiDeps, serviceIds: number[] | null): Promise<Map<number, ClientCredit['lastMail']>> {
  const { rows } = await deps.pool.query<{ service_id: string; kind: string; state: string; updated_at: Date }>(
    `SELECT DISTINCT ON (service_id) service_id::text, kind, state, updated_at FROM credit_mails
      WHERE $1::bigint[] IS NULL OR service_id = ANY($1::bigint[]) ORDER BY service_id, updated_at DESC`,
    [serviceIds],
  );
  return new Map(rows.map((row) => [Number(row.service_id), { kind: row.kind, state: row.state, at: row.updated_at.toISOString() }]));
}

/** Credit control's view of a prepaid service (#16), or null when the service is not under credit control. */
export async function creditOf(deps: ApiDeps, serviceId: number): Promise<ClientCredit | null> {
  const [state, mails] = await Promise.all([getCreditState(deps.pool, serviceId), lastCreditMails(deps, [serviceId])]);
  if (!state) return null;
  return {
    mode: state.restriction,
    state: state.state,
    available: state.available,
    threshold: state.threshold,
    creditLimit: state.creditLimit,
    currency: state.currency,
    restricted: state.suspendedBy === 'bridge' || state.restrictedGateways.length > 0,
    lastCheckedAt: state.lastCheckedAt?.toISOString() ?? null,
    lastMail: mails.get(serviceId) ?? null,
  };
}
