import type { Scenario } from './scenario.js';
import { check, settingName } from './scenario.js';

const QUEUE_FULL = 'HTTP 503: Too many concurrent requests';
const RESOURCE = 'HTTP 503: Resource threshold exceeded';
/** Flooding a bigger queue would take the generator, not the server, to its limit. */
const LARGEST_QUEUE_TO_FLOOD = 256;

/** Overfill slots and queue, and see that the guards refuse with the documented 503s. */
export const thresholdsScenario: Scenario = {
  name: 'thresholds',
  description: 'more workers than slots + queue; refusals must be the documented 503s',
  async runService(context) {
    const service = context.target.name;
    const before = await context.health();
    const slots = before.maxConcurrent ?? 2;
    const maxQueue = before.maxQueue ?? 0;
    const memoryOver =
      before.memoryPercent !== undefined && before.memoryThresholdPercent !== undefined
        ? before.memoryPercent >= before.memoryThresholdPercent
        : undefined;
    const floodable = maxQueue <= LARGEST_QUEUE_TO_FLOOD;
    const workers =
      context.options.workers ?? slots + Math.min(maxQueue, LARGEST_QUEUE_TO_FLOOD) + Math.max(2, slots);
    context.log(`thresholds (${service}): ${workers} workers against ${slots} slots + queue ${maxQueue}`);
    const result = await context.load({
      workers,
      requests: context.options.requests ?? workers * 2,
      durationMs: context.options.durationMs,
      open: undefined,
    });
    const run = result.services[0];
    const errors = run?.stats.errors ?? [];
    const seen = (prefix: string) => errors.some((group) => group.message.startsWith(prefix));
    const documented = errors.every(
      (group) => group.message.startsWith(QUEUE_FULL) || group.message.startsWith(RESOURCE),
    );
    const memory = `memory ${before.memoryPercent?.toFixed(1) ?? 'n/a'}% vs MEMORY_THRESHOLD_PERCENT ${before.memoryThresholdPercent ?? 'n/a'}`;
    return {
      results: [result],
      checks: [
        memoryOver
          ? check(service, `${memory}: requests refused with "${RESOURCE} (memory: …)"`, seen(RESOURCE))
          : check(
              service,
              `${memory}: no resource-threshold refusals`,
              memoryOver === undefined ? undefined : !seen(RESOURCE),
            ),
        check(
          service,
          `queue full (${workers} workers > ${slots} slots + ${settingName(service, 'MAX_QUEUE_SIZE')} ${maxQueue}): "${QUEUE_FULL}" seen`,
          memoryOver || !floodable ? undefined : seen(QUEUE_FULL),
        ),
        check(
          service,
          'every refusal is a documented 503 (no timeouts, no dropped connections, no 5xx)',
          documented,
        ),
        check(
          service,
          `server answered /health/detailed throughout (${run?.server.failedSamples ?? 0} failed samples)`,
          (run?.server.failedSamples ?? 0) === 0,
        ),
      ],
    };
  },
};
