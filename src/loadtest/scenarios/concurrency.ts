import type { Scenario } from './scenario.js';
import { check, settingName } from './scenario.js';

/** More workers than slots: the server must run exactly its slots and queue the rest. */
export const concurrencyScenario: Scenario = {
  name: 'concurrency',
  description: 'five workers per slot; active requests must peak at the configured slots',
  async runService(context) {
    const service = context.target.name;
    const before = await context.health();
    const slots = before.maxConcurrent ?? 2;
    const maxQueue = before.maxQueue;
    const workers = context.options.workers ?? Math.max(slots + 1, slots * 5);
    context.log(
      `concurrency (${service}): ${workers} workers against ${slots} slots, queue ${maxQueue ?? 'n/a'}`,
    );
    const result = await context.load({
      workers,
      requests: context.options.requests ?? (context.options.durationMs ? undefined : workers * 3),
      durationMs: context.options.durationMs,
      open: undefined,
    });
    const run = result.services[0];
    const peak = run?.server.peakActiveRequests;
    const queued = run?.server.peakQueued;
    const fitsQueue = maxQueue === undefined ? undefined : workers - slots <= maxQueue;
    const failed = run?.stats.failed ?? 0;
    return {
      results: [result],
      checks: [
        check(
          service,
          `peak active_requests ${peak ?? 'n/a'} = ${settingName(service, 'MAX_CONCURRENT_REQUESTS')} ${slots}`,
          peak === undefined ? undefined : peak === slots,
        ),
        check(
          service,
          `peak queued ${queued ?? 'n/a'} <= ${settingName(service, 'MAX_QUEUE_SIZE')} ${maxQueue ?? 'n/a'}`,
          queued === undefined || maxQueue === undefined ? undefined : queued <= maxQueue,
        ),
        fitsQueue === false
          ? check(
              service,
              `every failure is a queue-full 503 (${workers} workers exceed slots + queue)`,
              run?.stats.errors.every((group) =>
                group.message.startsWith('HTTP 503: Too many concurrent requests'),
              ),
            )
          : check(service, `errors ${failed} = 0 (${workers} workers fit in slots + queue)`, failed === 0),
      ],
    };
  },
};
