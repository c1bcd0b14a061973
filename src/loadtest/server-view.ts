import type { HealthSample, ServerView } from './load-test-result.js';

/** Peaks and configuration as the server reported them in `/health/detailed`. */
export function summarizeServer(samples: readonly HealthSample[]): ServerView {
  const good = samples.filter((sample) => sample.ok);
  const first = good[0];
  const last = good.at(-1);
  return {
    samples: samples.length,
    failedSamples: samples.length - good.length,
    modelLoadedAtStart: first?.modelLoaded,
    modelLoadedAtEnd: last?.modelLoaded,
    peakActiveRequests: peak(good.map((sample) => sample.activeRequests)),
    peakQueued: peak(good.map((sample) => sample.queued)),
    peakMemoryPercent: peak(good.map((sample) => sample.memoryPercent)),
    maxConcurrent: last?.maxConcurrent,
    maxQueue: last?.maxQueue,
    memoryThresholdPercent: last?.memoryThresholdPercent,
    idleTimeoutMinutes: last?.idleTimeoutMinutes,
  };
}

function peak(values: ReadonlyArray<number | undefined>): number | undefined {
  let best: number | undefined;
  for (const value of values) if (value !== undefined && (best === undefined || value > best)) best = value;
  return best;
}
