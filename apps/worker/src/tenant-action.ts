import type { ProvisioningAction } from '@ictvoip/queue';
import type { Logger } from '@ictvoip/config';
import type { InboxEvent, ServiceRecord } from '@ictvoip/store';
import type { TenantCommand } from '@ictvoip/whmcs';
import type { ScopedDeps } from './deps';

/**
 * `settled`: the FreeSWITCH side was applied and the backlog finished the event (status and audit);
 * `pending`: the database side is done and the event waits for the service's backlog job.
 */
export type FreeswitchSettlement = { state: 'settled' } | { state: 'pending'; message: string; jobId: string };

export interface ActionResult {
  message: string;
  serviceProperties?: Record<string, unknown>;
  detail?: Record<string, unknown>;
  freeswitch?: FreeswitchSettlement;
}

export interface TenantActionContext {
  /** The event's command, with its sealed secrets opened (never log this object whole). */
  event: TenantCommand;
  inboxEvent: InboxEvent;
  service: ServiceRecord | null;
  /** Scoped to the FusionPBX server of the event's service (a new one: the server its event names). */
  deps: ScopedDeps;
  logger: Logger;
}

/** What one provisioning job does; its action (and so its job name) is its key in ProvisioningDefinitions. */
export interface ProvisioningJobDefinition {
  /** Serialised per service and applied in arrival order; false for server-level probes. */
  perService: boolean;
  run(context: TenantActionContext): Promise<ActionResult>;
}

/**
 * Exactly one definition per provisioning action (the keys of @ictvoip/queue PROVISIONING_JOBS, each
 * one job name): a table without one, with one twice or with one for no job does not compile.
 */
export type ProvisioningDefinitions = { readonly [A in ProvisioningAction]: ProvisioningJobDefinition };
