/**
 * Where a job's time goes, in the logs (the API node's `dispatched_job_ended` at debug, the
 * worker's `job_finished`), read by bench/job-fleet.ts: instants in ms since the epoch to the
 * microsecond, comparable between processes on one machine (between machines, as far as
 * their clocks agree).
 */
export type Timeline = Record<string, number>;

export function timelineNow(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
}
