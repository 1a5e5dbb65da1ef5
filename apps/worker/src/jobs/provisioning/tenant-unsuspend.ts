import { noteWhmcsSuspendEvent } from '@ictvoip/store';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/**
 * Restores exactly what suspend found enabled (an extension the customer had disabled stays
 * disabled). For credit control the restriction is gone, whoever lifted it.
 */
export const unsuspendJob: ProvisioningJobDefinition = {
  perService: true,
  run: (context) => {
    // Noted before the event can read as finished (a crash in between must not lose it).
    const noteUnsuspend = () => noteWhmcsSuspendEvent(context.deps.pool, context.event.service.id, { suspended: false, ours: false });
    return runTenantAction(context, 'unsuspend', 'active', noteUnsuspend);
  },
};
