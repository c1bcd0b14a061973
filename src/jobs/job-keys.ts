// The queue names and BullMQ's keys (which KEDA reads) are in queue-names.ts; these are
// Voice Stack's own keys beside them.

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
