/**
 * Names that live outside this process: the BullMQ queue the jobs API fills and
 * `voice-stack worker asr` drains, and the Redis keys BullMQ keeps it in. KEDA's
 * trigger in deploy/kubernetes/ reads these keys by name, so they are written once here
 * and test/deploy/kubernetes.test.ts checks the manifests against them.
 */

/** The BullMQ queue of transcription jobs. */
export const ASR_QUEUE_NAME = 'asr-transcriptions';

/** The BullMQ queue of webhook deliveries (job id = the transcription's, so one each). */
export const WEBHOOK_QUEUE_NAME = 'asr-webhooks';

/** BullMQ's default key prefix (QueueKeys in bullmq): every key of a queue is `bull:<queue>:<part>`. */
export const BULLMQ_PREFIX = 'bull';

/** A key of the ASR queue as BullMQ names it (bullmq's QueueKeys.toKey). */
export function asrQueueKey(part: 'wait' | 'active' | 'prioritized' | 'delayed' | 'meta'): string {
  return `${BULLMQ_PREFIX}:${ASR_QUEUE_NAME}:${part}`;
}

/**
 * The Redis list of jobs waiting for a worker. BullMQ 5 and later keep waiting jobs
 * here even while the queue is paused (the pause is a flag in `meta`, not a move to a
 * `paused` list); jobs added with a priority wait in the `prioritized` sorted set
 * instead, which a list-length trigger cannot see, so ASR jobs are added without one.
 */
export const ASR_WAIT_LIST_KEY = asrQueueKey('wait');

/** The Redis list of jobs a worker holds now (BullMQ moves them wait → active atomically). */
export const ASR_ACTIVE_LIST_KEY = asrQueueKey('active');
