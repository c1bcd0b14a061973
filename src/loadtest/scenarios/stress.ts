import type { StageStats } from '../load-test-result.js';
import type { RampStage } from '../traffic-plan.js';
import type { Scenario } from './scenario.js';
import { check } from './scenario.js';

const STAGE_MS = 10_000;
const MULTIPLIERS = [0.5, 1, 1.5, 2, 3];

/** Rising arrival rates around the measured capacity; where latency or errors jump is the breaking point. */
export const stressScenario: Scenario = {
  name: 'stress',
  description: 'open-model ramp from half to three times the measured capacity',
  async runService(context) {
    const service = context.target.name;
    const before = await context.health();
    const slots = before.maxConcurrent ?? 2;
    const calibration = await context.load({
      workers: 1,
      requests: 3,
      durationMs: undefined,
      open: undefined,
    });
    const serviceMs = calibration.services[0]?.stats.averageMs || 1000;
    const capacity = (slots * 1000) / serviceMs;
    const stages: RampStage[] =
      context.options.ramp ??
      MULTIPLIERS.map((factor) => ({ rate: round(capacity * factor), durationMs: STAGE_MS }));
    context.log(
      `stress (${service}): capacity ≈ ${capacity.toFixed(2)} req/s, ramp ${stages.map((s) => s.rate).join(' → ')} req/s`,
    );
    const result = await context.load({
      workers: context.options.workers ?? 512,
      requests: undefined,
      durationMs: undefined,
      open: { arrival: context.options.arrival, stages },
    });
    const run = result.services[0];
    const breaking = breakingStage(run?.stages ?? []);
    const errors = run?.stats.errors ?? [];
    const clean = errors.every((group) => group.message.startsWith('HTTP 503:'));
    return {
      results: [calibration, result],
      checks: [
        check(
          service,
          `breaking point: ${breaking ? `${breaking.targetRate} req/s (stage ${breaking.index + 1}: p95 ${(breaking.p95Ms / 1000).toFixed(2)}s, errors ${(breaking.errorRate * 100).toFixed(1)}%)` : 'not reached'}`,
          true,
        ),
        check(service, 'overload answered with 503s, not timeouts or dropped connections', clean),
        check(
          service,
          `server answered /health/detailed throughout (${run?.server.failedSamples ?? 0} failed samples)`,
          (run?.server.failedSamples ?? 0) === 0,
        ),
      ],
    };
  },
};

/** The first stage with more than 1% errors or a p95 three times the first stage's. */
export function breakingStage(stages: readonly StageStats[]): StageStats | undefined {
  const baseline = stages[0]?.p95Ms ?? 0;
  return stages.find((stage) => stage.errorRate > 0.01 || (baseline > 0 && stage.p95Ms > baseline * 3));
}

function round(rate: number): number {
  return Math.max(0.1, Number(rate.toPrecision(2)));
}
