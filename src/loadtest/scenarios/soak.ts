import { LatencyHistogram } from '../latency-histogram.js';
import type { RequestRecord } from '../load-test-result.js';
import type { Scenario } from './scenario.js';
import { check } from './scenario.js';

const DEFAULT_SOAK_MS = 10 * 60_000;
const MEMORY_GROWTH_POINTS = 10;

/** Steady load at the slot count for a long time: no errors, no creeping memory, no creeping latency. */
export const soakScenario: Scenario = {
  name: 'soak',
  description: 'steady load for ten minutes (or --duration); nothing may drift',
  async runService(context) {
    const service = context.target.name;
    const before = await context.health();
    const workers = context.options.workers ?? before.maxConcurrent ?? 2;
    const result = await context.load({
      workers,
      requests: context.options.requests,
      durationMs: context.options.durationMs ?? DEFAULT_SOAK_MS,
      open: undefined,
    });
    const run = result.services[0];
    const memory = (run?.healthSamples ?? []).flatMap((sample) =>
      sample.memoryPercent === undefined ? [] : [sample.memoryPercent],
    );
    const growth = memory.length >= 2 ? (memory.at(-1) ?? 0) - (memory[0] ?? 0) : undefined;
    const [early, late] = firstAndLastFifthP95(run?.records ?? []);
    return {
      results: [result],
      checks: [
        check(
          service,
          `errors ${run?.stats.failed ?? 0} = 0 over ${((run?.stats.wallMs ?? 0) / 1000).toFixed(0)}s`,
          run?.stats.failed === 0,
        ),
        check(
          service,
          `memory grew ${growth?.toFixed(1) ?? 'n/a'} points (< ${MEMORY_GROWTH_POINTS})`,
          growth === undefined ? undefined : growth < MEMORY_GROWTH_POINTS,
        ),
        check(
          service,
          `p95 of the last fifth ${(late / 1000).toFixed(2)}s <= 2 × first fifth ${(early / 1000).toFixed(2)}s`,
          early > 0 ? late <= early * 2 : undefined,
        ),
      ],
    };
  },
};

function firstAndLastFifthP95(records: readonly RequestRecord[]): [number, number] {
  const ok = records.filter((record) => record.ok);
  const fifth = Math.floor(ok.length / 5);
  if (fifth === 0) return [0, 0];
  return [p95(ok.slice(0, fifth)), p95(ok.slice(-fifth))];
}

function p95(records: readonly RequestRecord[]): number {
  const histogram = new LatencyHistogram();
  for (const record of records) histogram.record(record.latencyMs);
  return histogram.percentileMs(95);
}
