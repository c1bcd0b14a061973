import * as hdr from 'hdr-histogram-js';

type Histogram = ReturnType<typeof hdr.build>;

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
 * Values below this many microseconds have a bucket of their own in a histogram with
 * 3 significant digits from 1 µs (its sub-bucket count is 2048): counting them in a
 * plain array and adding the counts later records exactly what recordValue would, at a
 * fraction of its cost per value. At the generator's ceiling (bench/loadtest-ceiling.ts,
 * ~100 µs health checks) the two recordValue calls per request were a few percent of
 * its CPU per request; slower requests come too rarely for it to matter.
 */
const EXACT_BELOW_US = 2048;

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
  /** Counts of values below EXACT_BELOW_US not yet added to the histogram. */
  #small: Float64Array | undefined;
  #smallCount = 0;

  record(ms: number): void {
    const us = Math.max(1, Math.round(ms * 1000));
    if (us < EXACT_BELOW_US) {
      this.#small ??= new Float64Array(EXACT_BELOW_US);
      this.#small[us] = (this.#small[us] as number) + 1;
      this.#smallCount++;
    } else {
      this.#histogram.recordValue(us);
    }
  }

  get count(): number {
    return this.#histogram.totalCount + this.#smallCount;
  }

  percentileMs(percentile: number): number {
    return this.#flushed().getValueAtPercentile(percentile) / 1000;
  }

  snapshot(): LatencySnapshot {
    const h = this.#flushed();
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

  /** The histogram with every small value counted so far added to it. */
  #flushed(): Histogram {
    const small = this.#small;
    if (small && this.#smallCount > 0) {
      for (let us = 1; us < EXACT_BELOW_US; us++) {
        const count = small[us] as number;
        if (count > 0) this.#histogram.recordValueWithCount(us, count);
      }
      small.fill(0);
      this.#smallCount = 0;
    }
    return this.#histogram;
  }
}
