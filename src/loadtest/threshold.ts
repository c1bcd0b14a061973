import { parseDuration } from './duration.js';
import type { LatencySnapshot } from './latency-histogram.js';
import type { LoadTestResult, OverallStats, ServiceResult } from './load-test-result.js';

type Operator = '<' | '<=' | '>' | '>=' | '=';
type MetricKind = 'latency' | 'ratio' | 'number';

export interface Threshold {
  expression: string;
  /** `asr`, `tts`, `overall`, or undefined for every service that ran. */
  scope: string | undefined;
  metric: string;
  operator: Operator;
  /** Milliseconds for latencies, a fraction for rates, a plain number otherwise. */
  value: number;
}

export interface ThresholdOutcome {
  threshold: Threshold;
  scope: string;
  actual: number | undefined;
  passed: boolean;
}

type Source = { service?: ServiceResult; overall?: OverallStats };

const METRICS: Record<string, { kind: MetricKind; read: (source: Source) => number | undefined }> = {
  p50: latency((l) => l.p50Ms),
  p90: latency((l) => l.p90Ms),
  p95: latency((l) => l.p95Ms),
  p99: latency((l) => l.p99Ms),
  max: latency((l) => l.maxMs),
  min: latency((l) => l.minMs),
  avg: latency((l) => l.meanMs),
  ttfb_p50: ttfb((l) => l.p50Ms),
  ttfb_p95: ttfb((l) => l.p95Ms),
  ttfb_p99: ttfb((l) => l.p99Ms),
  error_rate: { kind: 'ratio', read: (s) => s.service?.stats.errorRate ?? s.overall?.errorRate },
  success_rate: { kind: 'ratio', read: (s) => 1 - (s.service?.stats.errorRate ?? s.overall?.errorRate ?? 1) },
  rps: { kind: 'number', read: (s) => s.service?.stats.requestsPerSecond ?? s.overall?.requestsPerSecond },
  failed: { kind: 'number', read: (s) => s.service?.stats.failed ?? s.overall?.failed },
  total: { kind: 'number', read: (s) => s.service?.stats.total ?? s.overall?.total },
  peak_active: { kind: 'number', read: (s) => s.service?.server.peakActiveRequests },
  peak_queued: { kind: 'number', read: (s) => s.service?.server.peakQueued },
  peak_memory: { kind: 'number', read: (s) => s.service?.server.peakMemoryPercent },
};

function latency(pick: (l: LatencySnapshot) => number) {
  return {
    kind: 'latency' as const,
    read: (s: Source) => {
      const snapshot = s.service?.stats.latency ?? s.overall?.latency;
      return snapshot && snapshot.count > 0 ? pick(snapshot) : undefined;
    },
  };
}

function ttfb(pick: (l: LatencySnapshot) => number) {
  return {
    kind: 'latency' as const,
    read: (s: Source) =>
      s.service && s.service.stats.ttfb.count > 0 ? pick(s.service.stats.ttfb) : undefined,
  };
}

/** `asr.p95<5s,tts.error_rate<1%` → one Threshold per comma-separated term. */
export function parseThresholds(text: string): Threshold[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseThreshold);
}

function parseThreshold(expression: string): Threshold {
  const match = /^(?:(asr|tts|overall)\.)?([a-z0-9_]+)\s*(<=|>=|<|>|=)\s*(\S+)$/.exec(expression);
  if (!match) throw new Error(`invalid threshold "${expression}" (use e.g. asr.p95<5s or tts.error_rate<1%)`);
  const [, scope, metric = '', operator = '<', raw = ''] = match;
  const definition = METRICS[metric];
  if (!definition)
    throw new Error(`unknown threshold metric "${metric}" (known: ${Object.keys(METRICS).join(', ')})`);
  return {
    expression,
    scope,
    metric,
    operator: operator as Operator,
    value: parseValue(raw, definition.kind, expression),
  };
}

function parseValue(raw: string, kind: MetricKind, expression: string): number {
  if (kind === 'latency') return parseDuration(raw) * 1000;
  const percent = raw.endsWith('%');
  const value = Number(percent ? raw.slice(0, -1) : raw);
  if (!Number.isFinite(value)) throw new Error(`invalid value "${raw}" in threshold "${expression}"`);
  return percent && kind === 'ratio' ? value / 100 : value;
}

/** A threshold naming a service that did not run fails: a gate that checks nothing is a broken gate. */
export function evaluateThresholds(
  thresholds: readonly Threshold[],
  result: LoadTestResult,
): ThresholdOutcome[] {
  return thresholds.flatMap((threshold) => {
    const definition = METRICS[threshold.metric];
    if (!definition) return [];
    return sourcesFor(threshold, result).map(({ scope, source }) => {
      const actual = source ? definition.read(source) : undefined;
      return { threshold, scope, actual, passed: actual !== undefined && compare(actual, threshold) };
    });
  });
}

function sourcesFor(
  threshold: Threshold,
  result: LoadTestResult,
): Array<{ scope: string; source: Source | undefined }> {
  if (threshold.scope === 'overall') {
    if (result.overall) return [{ scope: 'overall', source: { overall: result.overall } }];
    // With one service, its own figures are the overall ones.
    const only = result.services.length === 1 ? result.services[0] : undefined;
    return [{ scope: 'overall', source: only ? { service: only } : undefined }];
  }
  if (threshold.scope) {
    const service = result.services.find((candidate) => candidate.service === threshold.scope);
    return [{ scope: threshold.scope, source: service ? { service } : undefined }];
  }
  return result.services.map((service) => ({ scope: service.service, source: { service } }));
}

function compare(actual: number, threshold: Threshold): boolean {
  switch (threshold.operator) {
    case '<':
      return actual < threshold.value;
    case '<=':
      return actual <= threshold.value;
    case '>':
      return actual > threshold.value;
    case '>=':
      return actual >= threshold.value;
    case '=':
      return actual === threshold.value;
  }
}

export function formatThresholdOutcomes(outcomes: readonly ThresholdOutcome[]): string {
  const lines = outcomes.map((outcome) => {
    const actual =
      outcome.actual === undefined ? 'no data' : formatActual(outcome.actual, outcome.threshold.metric);
    return `  ${outcome.passed ? 'OK  ' : 'FAIL'} ${outcome.scope}.${outcome.threshold.metric} ${outcome.threshold.operator} ${formatActual(outcome.threshold.value, outcome.threshold.metric)} (actual ${actual})`;
  });
  return ['Thresholds:', ...lines].join('\n');
}

function formatActual(value: number, metric: string): string {
  const kind = METRICS[metric]?.kind;
  if (kind === 'latency') return `${(value / 1000).toFixed(3)}s`;
  if (kind === 'ratio') return `${(value * 100).toFixed(2)}%`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
