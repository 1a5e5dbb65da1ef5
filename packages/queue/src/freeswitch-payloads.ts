import Joi from 'joi';

/**
 * One FreeSWITCH step as the API recorded it (the same shape `@ictvoip/fusionpbx` builds); the worker
 * validates each again before any reaches the event socket. Steps never carry a secret.
 */
export interface FreeswitchStepData {
  kind: 'cache_delete' | 'sofia_conf_cache_delete' | 'sofia_rescan' | 'gateway_kill' | 'gateway_start' | 'flush_registration' | 'reload_acl';
  key?: string;
  profile?: string;
  gatewayUuid?: string;
  user?: string;
}

export interface FreeswitchApplyJobData {
  /** 0 (GLOBAL_WRITE_SERVICE_ID): a FusionPBX server's own gateway, on `server`'s event socket. */
  serviceId: number;
  /** The REST request whose FusionPBX write these steps follow (its X-Request-Id): logs and the job id. */
  requestId: string;
  steps: FreeswitchStepData[];
  /** For service 0: the FusionPBX server the global gateway write named (null: the default server). */
  server?: string | null;
}

const step = Joi.object<FreeswitchStepData>({
  kind: Joi.string().valid('cache_delete', 'sofia_conf_cache_delete', 'sofia_rescan', 'gateway_kill', 'gateway_start', 'flush_registration', 'reload_acl').required(),
  key: Joi.string().max(512),
  profile: Joi.string().max(128),
  gatewayUuid: Joi.string().max(64),
  user: Joi.string().max(512),
});

export const freeswitchApplyJobDataSchema = Joi.object<FreeswitchApplyJobData>({
  serviceId: Joi.number().integer().min(0).required(),
  requestId: Joi.string().max(100).required(),
  steps: Joi.array().items(step).min(1).max(1000).required(),
  server: Joi.string().max(100).allow(null),
});

/** A service's FreeSWITCH backlog to apply; the steps are read from PostgreSQL when the job runs. */
export interface FreeswitchBacklogJobData {
  serviceId: number;
  /** The backlog's version when the job was added (logs and the job id); the job applies whatever is owed then. */
  version: number;
}

export const freeswitchBacklogJobDataSchema = Joi.object<FreeswitchBacklogJobData>({
  serviceId: Joi.number().integer().min(1).required(),
  version: Joi.number().integer().min(0).required(),
});

/** One job per backlog: the add made when a service falls behind, or the reconciler's, is the same job. */
export function freeswitchBacklogJobId(data: FreeswitchBacklogJobData): string {
  return `fs-backlog-${data.serviceId}-${data.version}`;
}

/** The service and backlog version a backlog job's id names (freeswitchBacklogJobId's inverse), else null. */
export function parseFreeswitchBacklogJobId(jobId: string): FreeswitchBacklogJobData | null {
  const match = /^fs-backlog-([1-9][0-9]*)-(0|[1-9][0-9]*)$/.exec(jobId);
  if (!match) return null;
  const [serviceId, version] = [Number(match[1]), Number(match[2])];
  return Number.isSafeInteger(serviceId) && Number.isSafeInteger(version) ? { serviceId, version } : null;
}
