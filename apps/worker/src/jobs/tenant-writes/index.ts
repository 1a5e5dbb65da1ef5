import type { Job } from 'bullmq';
import { TENANT_WRITE_JOBS } from '@ictvoip/queue';
import type { WorkerDeps } from '../../deps';
import { extensionWriteJob } from './extension-write';
import { gatewayWriteJob } from './gateway-write';

export const TENANT_WRITE_JOB_HANDLERS: Record<string, (deps: WorkerDeps, job: Job) => Promise<unknown>> = {
  [TENANT_WRITE_JOBS.extension]: extensionWriteJob,
  [TENANT_WRITE_JOBS.gateway]: gatewayWriteJob,
};
