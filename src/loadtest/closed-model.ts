import type { DriverContext } from './driver-context.js';
import type { RequestRecord } from './load-test-result.js';
import type { TrafficPlan } from './traffic-plan.js';

/**
 * N workers, each sending its next request as soon as the previous one ends. A
 * worker is a connection lane: its completion sends the next request directly, with
 * no promise or closure per request. The duration is watched by a timer, not by a
 * clock read before every send: at the generator's ceiling that read was a clock call
 * per request more than autocannon makes.
 */
export function runClosedModel(plan: TrafficPlan, context: DriverContext): Promise<void> {
  const limit = plan.requests ?? Number.POSITIVE_INFINITY;
  const sender = context.sender;
  let issued = 0;
  let inFlight = 0;
  let pastDeadline = false;
  let timer: NodeJS.Timeout | undefined;
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      resolve();
    };
    if (plan.durationMs !== undefined) {
      const deadline = context.now() + plan.durationMs;
      // A timer can fire a little early against this clock (libuv's loop time lags it);
      // it re-arms for what is left instead of ending the run short.
      const watch = () => {
        const left = deadline - context.now();
        if (left > 0) timer = setTimeout(watch, left);
        else pastDeadline = true;
      };
      watch();
    }
    const sendNext = (): boolean => {
      if (pastDeadline || issued >= limit || context.stopped()) return false;
      inFlight++;
      sender.send(issued++, undefined, undefined, onRecord);
      return true;
    };
    const onRecord = (record: RequestRecord): void => {
      inFlight--;
      context.onRecord(record);
      if (!sendNext() && inFlight === 0) finish();
    };
    for (let worker = 0; worker < plan.workers; worker++) if (!sendNext()) break;
    if (inFlight === 0) finish();
  });
}
