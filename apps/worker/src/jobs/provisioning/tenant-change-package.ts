import type { ProvisioningJobDefinition } from '../../tenant-action';
import { runTenantAction } from '../../event-processor';

/** Applies the new plan: missing extensions are added; surplus ones are disabled newest-first and reported. */
export const changePackageJob: ProvisioningJobDefinition = {
  perService: true,
  run: (context) => runTenantAction(context, 'changePackage', null),
};
