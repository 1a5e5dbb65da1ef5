import type Redis from 'ioredis';
import { freeswitchBacklogJobId, QUEUE_NAMES } from '@ictvoip/queue';
import { addWriteSteps } from '../src/jobs/freeswitch/freeswitch-backlog';
import type { Bridge } from './harness';

/**
 * `write` sent while FreeSWITCH is behind for service `serviceId` (the write's steps join a backlog whose job id is
 * known here) and Redis refuses that backlog job's add: its key holds a string, so BullMQ's read of it is WRONGTYPE.
 * The key is removed once the write has answered (or thrown).
 */
export async function writeWhileBacklogAddRefused<Reply>(bridge: Bridge, redis: Redis, serviceId: number, write: () => Promise<Reply>) {
  const { backlog } = await addWriteSteps(bridge.worker!.deps, serviceId, [{ kind: 'sofia_rescan', profile: 'internal' }]);
  const jobId = freeswitchBacklogJobId({ serviceId, version: backlog.origin });
  const jobKey = `${bridge.prefix}:${QUEUE_NAMES.provisioning}:${jobId}`;
  await redis.set(jobKey, 'not a job');
  try {
    return { reply: await write(), jobId, backlog };
  } finally {
    await redis.del(jobKey);
  }
}
