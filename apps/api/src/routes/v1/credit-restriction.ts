import { getCreditState } from '@ictvoip/store';
import { HttpError } from '../../errors';
import type { TenantContext } from './tenant-context';

/**
 * Credit control's outbound restriction stops the tenant's gateways until a top-up; a gateway switched
 * on (or made) through the API meanwhile would carry paid calls until the next credit check, so that
 * write is refused: 409 CREDIT_RESTRICTED, nothing written (its dry run too).
 */
export async function refuseGatewayWhileCreditRestricted(context: TenantContext, what: string, alreadyOn?: () => Promise<boolean>): Promise<void> {
  const credit = await getCreditState(context.deps.pool, context.service.serviceId);
  const restricted = credit?.restriction === 'outbound' && (credit.suspendedBy === 'bridge' || credit.pendingAction === 'restrict');
  // A gateway the restriction kept up (it carries an emergency route) may be written as it is.
  if (!restricted || (alreadyOn && (await alreadyOn()))) return;
  throw new HttpError(
    409,
    'CREDIT_RESTRICTED',
    `tenant ${context.service.serviceId} is restricted for low credit (credit control, outbound calls): ${what} is refused until a top-up lifts the restriction`,
  );
}
