import type { AsrTask } from '../asr/engines/asr-engine.js';
import type { OpenAiResponseFormat } from '../asr/transcript-formats.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export type FinishedStatus = Extract<JobStatus, 'succeeded' | 'failed' | 'cancelled'>;

/** What the client asked for at submission; the worker transcribes with these. */
export interface JobRequest {
  readonly task: AsrTask;
  readonly language: string | undefined;
  readonly prompt: string | undefined;
  readonly temperature: number;
  /** Word timestamps were asked for (`timestamp_granularities[]=word`). */
  readonly words: boolean;
  /** `/asr?vad_filter=true` dispatched to the fleet (ASR_DISPATCH=queue); jobs leave it unset. */
  readonly vad?: boolean;
  /** The format `/result` answers in when its query names none. */
  readonly responseFormat: OpenAiResponseFormat;
  readonly webhookUrl: string | undefined;
  /** The client's `metadata`, as the JSON text it sent (at most 4 KB). */
  readonly metadata: string | undefined;
  readonly resultUrl: string;
  /** A synchronous request sent to the fleet (ASR_DISPATCH=queue): not listed, removed once answered. */
  readonly dispatched?: boolean;
}

export interface JobError {
  readonly message: string;
  readonly code: string;
}

/** One job as Voice Stack keeps it in Redis (times in ms since the epoch). */
export interface JobRecord {
  readonly id: string;
  readonly status: JobStatus;
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  readonly audioSeconds: number;
  readonly progress: number;
  readonly error: JobError | undefined;
  readonly request: JobRequest;
  /** Where each piece starts, in seconds: `[0]` for a job that was not split. */
  readonly pieceOffsets: readonly number[];
}

export function isFinished(status: JobStatus): status is FinishedStatus {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}
