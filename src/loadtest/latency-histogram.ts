import * as hdr from 'hdr-histogram-js';

/** Percentiles every report shows, in this order. */
export const REPORTED_PERCENTILES = [50, 90, 95, 99] as const;

export interface LatencySnapshot {
  count: number;
  minMs: number;
  meanMs: number;
  maxMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** The whole histogram, HdrHistogram's compressed base64 form (microseconds). */
  encoded: string;
}

/**
 * Latencies recorded in microseconds with 3 significant digits: fine enough for a
 * 1 ms health check and wide enough for a 5-minute transcription.
 */
export class LatencyHistogram {
  readonly #histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

  record(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  percentileMs(percentile: number): number {
    return this.#histogram.getValueAtPercentile(percentile) / 1000;
  }

  snapshot(): LatencySnapshot {
    const h = this.#histogram;
    const empty = h.totalCount === 0;
    const maxMs = empty ? 0 : h.maxValue / 1000;
    // A percentile is reported as its bucket's upper edge, which can pass the true maximum.
    const at = (percentile: number) => Math.min(this.percentileMs(percentile), maxMs);
    return {
      count: h.totalCount,
      minMs: empty ? 0 : h.minNonZeroValue / 1000,
      meanMs: empty ? 0 : h.mean / 1000,
      maxMs,
      p50Ms: at(50),
      p90Ms: at(90),
      p95Ms: at(95),
      p99Ms: at(99),
      encoded: hdr.encodeIntoCompressedBase64(h),
    };
  }
}
