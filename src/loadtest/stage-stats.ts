import { LatencyHistogram } from './latency-histogram.js';
import type { RequestRecord, StageStats } from './load-test-result.js';
import type { RampStage } from './traffic-plan.js';

/** Per ramp stage: where latency or errors start to climb is the breaking point. */
export function computeStageStats(
  records: readonly RequestRecord[],
  stages: readonly RampStage[],
): StageStats[] {
  return stages.map((stage, index) => {
    const histogram = new LatencyHistogram();
    let total = 0;
    let failed = 0;
    for (const record of records) {
      if (record.stage !== index || record.cancelled) continue;
      total++;
      if (record.ok) histogram.record(record.latencyMs);
      else failed++;
    }
    const seconds = stage.durationMs / 1000;
    return {
      index,
      targetRate: stage.rate,
      durationSeconds: seconds,
      achievedRate: Number.isFinite(seconds) && seconds > 0 ? total / seconds : 0,
      total,
      failed,
      errorRate: total === 0 ? 0 : failed / total,
      p50Ms: histogram.percentileMs(50),
      p95Ms: histogram.percentileMs(95),
      p99Ms: histogram.percentileMs(99),
    };
  });
}
