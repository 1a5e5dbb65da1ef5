import type { BridgeConfig } from '@ictvoip/config';
import { type CacheOptions, describeFreeswitchSide, FreeswitchValidationError, type FreeswitchStep } from '@ictvoip/freeswitch';
import type { RecordedWrite } from '../db';
import { FusionpbxConfigError, FusionpbxValidationError, TenantConflictError, TenantNotFoundError, TenantStateError, TrunkCidrOwnedError, UniquenessError } from '../errors';
import { NumberOwnedError } from '../destinations/errors';
import type { PreviewCall, Provisioner } from './provisioner';
import type { TenantCommand } from '@ictvoip/whmcs';

/** Webhook action → provisioner call (the same mapping the worker's tenant jobs use). */
export const PREVIEW_CALLS: Readonly<Record<string, PreviewCall>> = {
  create: 'create',
  suspend: 'suspend',
  unsuspend: 'unsuspend',
  terminate: 'terminate',
  change_package: 'changePackage',
  change_password: 'changePassword',
};

/** The provisioner's refusals: a real run makes each a permanent `result: error` (the worker's event processor reads this list too). */
export const PROVISIONING_REFUSALS = [
  FusionpbxValidationError,
  TenantConflictError,
  TenantNotFoundError,
  TenantStateError,
  FusionpbxConfigError,
  UniquenessError,
  NumberOwnedError,
  TrunkCidrOwnedError,
] as const;

/** The preview also describes the event-socket side, whose bad values are refusals too. */
const PERMANENT_ERRORS = [...PROVISIONING_REFUSALS, FreeswitchValidationError];

/** The webhook's `?dryRun=1` answer, and `ictvoip preview --json`: the same shape from the same code. */
export type EventPreview =
  | { result: 'dry_run'; action: string; serviceId: number; domainName: string; status: string; rows: RecordedWrite[]; freeswitch: FreeswitchStep[]; eslCommands: string[] }
  | { result: 'error'; message: string; code: string; retryable: false };

/** The action changes nothing in FusionPBX (test_connection, a status probe): there is nothing to preview. */
export class PreviewUnavailableError extends Error {
  readonly code = 'PREVIEW_UNAVAILABLE';
  readonly supported = Object.keys(PREVIEW_CALLS);
  constructor(readonly action: string) {
    super(`dryRun is not available for action ${action}`);
    this.name = 'PreviewUnavailableError';
  }
}

/** The cache options the worker and API apply with, from the bridge configuration. */
export function cacheOptionsFromConfig(config: BridgeConfig): CacheOptions {
  const { cacheMethod, cacheDir } = config.fusionpbx;
  return cacheMethod === 'file' ? { method: 'file', location: cacheDir } : { method: cacheMethod };
}

/**
 * Runs the event's provisioning in a rolled-back FusionPBX transaction and describes the
 * event-socket commands it would send, without connecting to the event socket. A failure a real
 * run would record as permanent is the `result: 'error'` answer; anything else (database down) throws.
 * `event` is the validated command (configurable options folded into the plan).
 */
export async function previewTenantEvent(provisioner: Provisioner, action: string, event: TenantCommand, cache: CacheOptions): Promise<EventPreview> {
  const call = PREVIEW_CALLS[action];
  if (!call) throw new PreviewUnavailableError(action);
  try {
    const { result, rows } = await provisioner.preview(call, event);
    return {
      result: 'dry_run',
      action,
      serviceId: Number(event.service.id),
      domainName: result.domainName,
      status: result.status,
      rows,
      freeswitch: result.freeswitch,
      eslCommands: describeFreeswitchSide(result.freeswitch, { cache }),
    };
  } catch (error) {
    if (!PERMANENT_ERRORS.some((type) => error instanceof type)) throw error;
    return { result: 'error', message: (error as Error).message, code: (error as { code: string }).code, retryable: false };
  }
}
