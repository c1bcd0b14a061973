/**
 * The names in Redis that other programs depend on. KEDA scales workers on BullMQ's wait
 * list, `bull:asr-transcriptions:wait` (BullMQ's default prefix `bull`, then the queue
 * name): renaming the queue or the prefix silently breaks autoscaling.
 */
export const TRANSCRIPTION_QUEUE = 'asr-transcriptions';
export const WEBHOOK_QUEUE = 'asr-webhooks';
export const BULL_PREFIX = 'bull';
export const TRANSCRIPTION_WAIT_LIST = `${BULL_PREFIX}:${TRANSCRIPTION_QUEUE}:wait`;

const ROOT = 'voice-stack:asr-jobs';

/** Voice Stack's own keys for one job: its record, its audio (until it ends) and its result. */
export const jobKeys = {
  record: (id: string) => `${ROOT}:${id}`,
  audio: (id: string) => `${ROOT}:${id}:audio`,
  result: (id: string) => `${ROOT}:${id}:result`,
  /** A split job's piece transcripts, by piece number, until it is assembled. */
  pieces: (id: string) => `${ROOT}:${id}:pieces`,
  /** Every job by creation time (ms), for listing. */
  index: `${ROOT}:index`,
  /** Jobs finished so far, fleet-wide, by status. */
  finished: `${ROOT}:finished`,
  /** Pub/sub: a job id published here is aborted by the worker that runs it. */
  cancelChannel: `${ROOT}:cancel`,
  /** Pub/sub: the id of every job that ended, as it ends. */
  endedChannel: `${ROOT}:ended`,
};
