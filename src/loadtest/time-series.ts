import { LatencyHistogram } from './latency-histogram.js';
import type { RequestRecord } from './load-test-result.js';

export type Point = readonly [number, number];

/** About fifty buckets per chart, in round steps, never narrower than 100 ms. */
export function bucketMsFor(wallMs: number): number {
  const raw = wallMs / 50;
  if (raw <= 100) return 100;
  return raw <= 1000 ? Math.ceil(raw / 100) * 100 : Math.ceil(raw / 1000) * 1000;
}

/** p95 latency (s) of the requests that ended in each bucket, x at the bucket's end (s). */
export function p95Series(records: readonly RequestRecord[], originMs: number, bucketMs: number): Point[] {
  const buckets = new Map<number, LatencyHistogram>();
  for (const record of records) {
    if (!record.ok) continue;
    const index = Math.floor((record.endMs - originMs) / bucketMs);
    let histogram = buckets.get(index);
    if (!histogram) {
      histogram = new LatencyHistogram();
      buckets.set(index, histogram);
    }
    histogram.record(record.latencyMs);
  }
  return [...buckets]
    .sort(([a], [b]) => a - b)
    .map(([index, histogram]): Point => [((index + 1) * bucketMs) / 1000, histogram.percentileMs(95) / 1000]);
}

/** Completions per second in each bucket, split by outcome. */
export function throughputSeries(
  records: readonly RequestRecord[],
  originMs: number,
  bucketMs: number,
  wallMs: number,
  keep: (record: RequestRecord) => boolean,
): Point[] {
  const count = Math.max(1, Math.ceil(wallMs / bucketMs));
  const totals = new Array<number>(count).fill(0);
  for (const record of records) {
    if (record.cancelled || !keep(record)) continue;
    const index = Math.min(count - 1, Math.max(0, Math.floor((record.endMs - originMs) / bucketMs)));
    totals[index] = (totals[index] ?? 0) + 1;
  }
  // A step per bucket: the rate held over the whole bucket, visible even with one bucket.
  return totals.flatMap((total, index): Point[] => {
    const rate = total / (bucketMs / 1000);
    return [
      [(index * bucketMs) / 1000, rate],
      [((index + 1) * bucketMs) / 1000, rate],
    ];
  });
}

/** Requests in flight on the client side, as a step line through every start and end. */
export function inFlightSeries(records: readonly RequestRecord[], originMs: number): Point[] {
  const events: Array<[number, number]> = [];
  for (const record of records) {
    events.push([record.startMs - originMs, 1], [record.endMs - originMs, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const points: Point[] = [[0, 0]];
  let level = 0;
  for (const [atMs, delta] of events) {
    points.push([Math.max(0, atMs) / 1000, level]);
    level += delta;
    points.push([Math.max(0, atMs) / 1000, level]);
  }
  return thin(points, 2000);
}

/** Keeps a chart's point count bounded so a long soak still renders quickly. */
function thin(points: Point[], limit: number): Point[] {
  if (points.length <= limit) return points;
  const step = points.length / limit;
  return Array.from({ length: limit }, (_, index) => points[Math.floor(index * step)] as Point);
}

export function latencyDots(records: readonly RequestRecord[], originMs: number, ok: boolean): Point[] {
  const chosen = records.filter((record) => record.ok === ok && !record.cancelled);
  return thin(
    chosen.map((record): Point => [(record.intendedMs - originMs) / 1000, record.latencyMs / 1000]),
    3000,
  );
}
