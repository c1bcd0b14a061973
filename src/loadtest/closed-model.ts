import type { DriverContext } from './driver-context.js';
import type { RequestRecord } from './load-test-result.js';
import type { TrafficPlan } from './traffic-plan.js';

/**
 * N workers, each sending its next request as soon as the previous one ends. A
 * worker is a connection lane: its completion sends the next request directly, with
 * no promise or closure per request.
 */
export function runClosedModel(plan: TrafficPlan, context: DriverContext): Promise<void> {
  const limit = plan.requests ?? Number.POSITIVE_INFINITY;
  const deadline = plan.durationMs === undefined ? Number.POSITIVE_INFINITY : context.now() + plan.durationMs;
  const sender = context.sender;
  let issued = 0;
  let inFlight = 0;
  return new Promise((resolve) => {
    const sendNext = (): boolean => {
      if (context.stopped() || issued >= limit || context.now() >= deadline) return false;
      inFlight++;
      sender.send(issued++, undefined, undefined, onRecord);
      return true;
    };
    const onRecord = (record: RequestRecord): void => {
      inFlight--;
      context.onRecord(record);
      if (!sendNext() && inFlight === 0) resolve();
    };
    for (let worker = 0; worker < plan.workers; worker++) if (!sendNext()) break;
    if (inFlight === 0) resolve();
  });
}
