import { parseDuration } from './duration.js';

export type ArrivalProcess = 'constant' | 'poisson';

export interface RampStage {
  /** Requests per second during the stage. */
  rate: number;
  durationMs: number;
}

/**
 * How much traffic to send to each service. Closed model: `workers` loops that each
 * wait for their response. Open model (`open` set): requests leave on a schedule and
 * `workers` only caps how many are in flight at once.
 */
export interface TrafficPlan {
  workers: number;
  requests: number | undefined;
  durationMs: number | undefined;
  open: { arrival: ArrivalProcess; stages: RampStage[] } | undefined;
}

/** `1:30s,5:60s,10:60s` → rate 1/s for 30 s, 5/s for 60 s, 10/s for 60 s. */
export function parseRamp(text: string): RampStage[] {
  const stages = text.split(',').map((part) => {
    const [rate, duration, extra] = part.trim().split(':');
    if (rate === undefined || duration === undefined || extra !== undefined) {
      throw new Error(`invalid ramp stage "${part}" (use RATE:DURATION, e.g. 5:60s)`);
    }
    const value = Number(rate);
    if (!(value > 0)) throw new Error(`invalid ramp rate "${rate}" in "${part}"`);
    return { rate: value, durationMs: parseDuration(duration) * 1000 };
  });
  if (stages.length === 0) throw new Error('empty --ramp');
  return stages;
}

export function validatePlan(plan: TrafficPlan): void {
  if (!Number.isInteger(plan.workers) || plan.workers < 1)
    throw new Error('workers must be a positive integer');
  if (plan.requests === undefined && plan.durationMs === undefined && !plan.open?.stages.every(isBounded)) {
    throw new Error('a run needs a bound: a request count, a duration or a finite ramp');
  }
  if (plan.requests !== undefined && (!Number.isInteger(plan.requests) || plan.requests < 1)) {
    throw new Error('requests must be a positive integer');
  }
}

function isBounded(stage: RampStage): boolean {
  return Number.isFinite(stage.durationMs);
}

export interface Arrival {
  intendedMs: number;
  stage: number;
}

/** Intended send times, relative to the service's start, until the plan is exhausted. */
export function* arrivals(plan: TrafficPlan, random: () => number = Math.random): Generator<Arrival> {
  const open = plan.open;
  if (!open) return;
  const limit = plan.requests ?? Number.POSITIVE_INFINITY;
  const end = plan.durationMs ?? Number.POSITIVE_INFINITY;
  let count = 0;
  let stageStart = 0;
  for (const [index, stage] of open.stages.entries()) {
    const stageEnd = Math.min(end, stageStart + stage.durationMs);
    const gap = () => (open.arrival === 'poisson' ? -Math.log(1 - random()) : 1) * (1000 / stage.rate);
    for (let t = stageStart; t < stageEnd && count < limit; t += gap()) {
      count++;
      yield { intendedMs: t, stage: index };
    }
    stageStart = stageEnd;
    if (stageStart >= end || count >= limit) return;
  }
}
