import { LatencyHistogram } from './latency-histogram.js';
import type {
  ErrorGroup,
  OverallStats,
  RequestRecord,
  ServiceResult,
  ServiceStats,
} from './load-test-result.js';
import { RecordLog } from './record-log.js';

/** A service's records: as objects, or as the runner keeps them. */
export type RecordSource = readonly RequestRecord[] | RecordLog;

function forEachRecord(records: RecordSource, visit: (record: Readonly<RequestRecord>) => void): void {
  if (records instanceof RecordLog) records.scan(visit);
  else for (const record of records) visit(record);
}

/** Cancelled requests (Ctrl-C) are neither successes nor failures: the run stopped, not the server. */
export function computeServiceStats(records: RecordSource, wallMs: number): ServiceStats {
  const latency = new LatencyHistogram();
  const ttfb = new LatencyHistogram();
  const errors = new Map<string, number>();
  let successful = 0;
  let failed = 0;
  let cancelled = 0;
  let totalMs = 0;
  let minMs = Number.POSITIVE_INFINITY;
  let maxMs = 0;
  let audioSeconds = 0;
  forEachRecord(records, (record) => {
    if (record.cancelled) {
      cancelled++;
      return;
    }
    if (!record.ok) {
      failed++;
      if (record.error !== undefined) errors.set(record.error, (errors.get(record.error) ?? 0) + 1);
      return;
    }
    successful++;
    latency.record(record.latencyMs);
    if (record.ttfbMs !== undefined) ttfb.record(record.ttfbMs + (record.startMs - record.intendedMs));
    totalMs += record.latencyMs;
    minMs = Math.min(minMs, record.latencyMs);
    maxMs = Math.max(maxMs, record.latencyMs);
    audioSeconds += record.audioSeconds ?? 0;
  });
  const total = successful + failed;
  const wallSeconds = wallMs / 1000;
  return {
    total,
    successful,
    failed,
    cancelled,
    successRate: total === 0 ? 0 : successful / total,
    errorRate: total === 0 ? 0 : failed / total,
    averageMs: successful === 0 ? 0 : totalMs / successful,
    minMs: successful === 0 ? 0 : minMs,
    maxMs,
    totalMs,
    wallMs,
    requestsPerSecond: wallSeconds > 0 ? total / wallSeconds : 0,
    audioSeconds,
    audioSecondsPerSecond: wallSeconds > 0 ? audioSeconds / wallSeconds : 0,
    latency: latency.snapshot(),
    ttfb: ttfb.snapshot(),
    errors: rankErrors(errors),
  };
}

/** Most frequent first, as the person reading wants the main cause at the top. */
function rankErrors(counts: ReadonlyMap<string, number>): ErrorGroup[] {
  return [...counts]
    .map(([message, count]) => ({ message, count }))
    .sort((a, b) => b.count - a.count || a.message.localeCompare(b.message));
}

/** All services together; wall time spans the first start to the last finish. */
export function computeOverall(services: readonly ServiceResult[]): OverallStats {
  const latency = new LatencyHistogram();
  let successful = 0;
  let failed = 0;
  for (const service of services) {
    successful += service.stats.successful;
    failed += service.stats.failed;
    for (const record of service.records)
      if (record.ok && !record.cancelled) latency.record(record.latencyMs);
  }
  const startedMs = Math.min(...services.map((service) => service.startedMs));
  const finishedMs = Math.max(...services.map((service) => service.finishedMs));
  const wallMs = Math.max(0, finishedMs - startedMs);
  const total = successful + failed;
  return {
    total,
    successful,
    failed,
    errorRate: total === 0 ? 0 : failed / total,
    wallMs,
    requestsPerSecond: wallMs > 0 ? total / (wallMs / 1000) : 0,
    latency: latency.snapshot(),
  };
}
