import type { ProvisioningJobDefinition } from '../../tenant-action';
import { changePackageJob } from './tenant-change-package';
import { changePasswordJob } from './tenant-change-password';
import { createJob } from './tenant-create';
import { suspendJob } from './tenant-suspend';
import { terminateJob } from './tenant-terminate';
import { unsuspendJob } from './tenant-unsuspend';
import { reconcileJob } from './tenant-reconcile';
import { testConnectionJob } from './test-connection';

/** Every provisioning job type; the worker checks at start-up that each job name has exactly one. */
export const PROVISIONING_JOB_DEFINITIONS: readonly ProvisioningJobDefinition[] = [
  createJob,
  suspendJob,
  unsuspendJob,
  terminateJob,
  changePackageJob,
  changePasswordJob,
  testConnectionJob,
  reconcileJob,
];
