import type { DriverContext } from './driver-context.js';
import type { RequestRecord } from './load-test-result.js';
import { type Arrival, arrivals, type TrafficPlan } from './traffic-plan.js';

/**
 * Sends on schedule whatever the server does. A request that finds every worker busy
 * waits here, and its latency still counts from its intended send time, so a slow
 * server shows up as latency instead of hiding as a lower rate (coordinated omission).
 */
export function runOpenModel(plan: TrafficPlan, context: DriverContext): Promise<void> {
  const schedule = arrivals(plan);
  const origin = context.now();
  const waiting: Arrival[] = [];
  let next = schedule.next();
  let inFlight = 0;
  let id = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Promise((resolve) => {
    const finishIfDone = () => {
      if (inFlight === 0 && (context.stopped() || (next.done && waiting.length === 0))) resolve();
    };
    const onRecord = (record: RequestRecord) => {
      inFlight--;
      context.onRecord(record);
      const queued = context.stopped() ? undefined : waiting.shift();
      if (queued) launch(queued);
      finishIfDone();
    };
    const launch = (arrival: Arrival) => {
      inFlight++;
      context.sender.send(id++, origin + arrival.intendedMs, arrival.stage, onRecord);
    };
    const tick = () => {
      if (context.stopped()) return finishIfDone();
      const elapsed = context.now() - origin;
      while (!next.done && next.value.intendedMs <= elapsed) {
        if (inFlight < plan.workers) launch(next.value);
        else waiting.push(next.value);
        next = schedule.next();
      }
      if (!next.done) timer = setTimeout(tick, Math.max(0, next.value.intendedMs - elapsed));
      finishIfDone();
    };
    void context.whenStopped.then(() => {
      clearTimeout(timer);
      finishIfDone();
    });
    tick();
  });
}
