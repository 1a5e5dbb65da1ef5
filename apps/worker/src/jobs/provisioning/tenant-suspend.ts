import { noteWhmcsSuspendEvent } from '@ictvoip/store';
import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/**
 * Disables the tenant and drops its registrations, remembering what was enabled so unsuspend
 * restores exactly that. Credit control learns who suspended: the bridge's own ModuleSuspend comes
 * back with its reason (CREDIT_SUSPEND_REASON); any other reason (overdue, fraud, an operator) marks
 * the service as not the bridge's to lift.
 */
export const suspendJob: ProvisioningJobDefinition = {
  perService: true,
  run: (context) => {
    const ours = context.event.reason === context.deps.config.credit.suspendReason;
    // Noted before the event can read as finished: after a crash in between, the replay would find the
    // event done and credit control could lift an operator's suspend as if it were its own.
    const noteSuspend = () => noteWhmcsSuspendEvent(context.deps.pool, context.event.service.id, { suspended: true, ours });
    return runTenantAction(context, 'suspend', 'suspended', noteSuspend);
  },
};
