import type { DriverContext } from './driver-context.js';
import type { TrafficPlan } from './traffic-plan.js';

/** N workers, each sending its next request as soon as the previous one ends. */
export async function runClosedModel(plan: TrafficPlan, context: DriverContext): Promise<void> {
  const limit = plan.requests ?? Number.POSITIVE_INFINITY;
  const deadline = plan.durationMs === undefined ? Number.POSITIVE_INFINITY : context.now() + plan.durationMs;
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (!context.stopped() && issued < limit && context.now() < deadline) {
      const id = issued++;
      const record = await context.sender.send(id, context.now(), undefined);
      context.onRecord(record);
    }
  };
  await Promise.all(Array.from({ length: plan.workers }, worker));
}
