import type { ProvisioningDefinitions } from '../../tenant-action';
import { changePackageJob } from './tenant-change-package';
import { changePasswordJob } from './tenant-change-password';
import { createJob } from './tenant-create';
import { suspendJob } from './tenant-suspend';
import { terminateJob } from './tenant-terminate';
import { unsuspendJob } from './tenant-unsuspend';
import { reconcileJob } from './tenant-reconcile';
import { testConnectionJob } from './test-connection';

/** Every provisioning job type, keyed by its action: the compiler proves each job has exactly one. */
export const PROVISIONING_DEFINITIONS = {
  create: createJob,
  suspend: suspendJob,
  unsuspend: unsuspendJob,
  terminate: terminateJob,
  change_package: changePackageJob,
  change_password: changePasswordJob,
  test_connection: testConnectionJob,
  reconcile: reconcileJob,
} as const satisfies ProvisioningDefinitions;
