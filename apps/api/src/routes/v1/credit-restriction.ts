import { CreditRestrictedError } from '@ictvoip/fusionpbx';
import { getCreditState, outboundRestricted } from '@ictvoip/store';
import { HttpError } from '../../errors';
import type { TenantContext } from './tenant-context';

/**
 * Credit control's outbound restriction stops the tenant's gateways until a top-up; a gateway switched
 * on (or made) through the API meanwhile would carry paid calls until the next credit check, so that
 * write is refused: 409 CREDIT_RESTRICTED, nothing written (its dry run too). The tenant-writes job
 * checks again under the client's credit lock (a restriction decided after this answer wins there).
 */
export async function refuseGatewayWhileCreditRestricted(context: TenantContext, what: string, alreadyOn?: () => Promise<boolean>): Promise<void> {
  const restricted = outboundRestricted(await getCreditState(context.deps.pool, context.service.serviceId));
  // A gateway the restriction kept up (it carries an emergency route) may be written as it is.
  if (!restricted || (alreadyOn && (await alreadyOn()))) return;
  throw new HttpError(409, 'CREDIT_RESTRICTED', new CreditRestrictedError(context.service.serviceId, what).message);
}
