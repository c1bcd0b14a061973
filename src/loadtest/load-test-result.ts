import type { LatencySnapshot } from './latency-histogram.js';

/** What happened to one request, times in ms since the run started. */
export interface RequestRecord {
  id: number;
  service: string;
  /** Index of the ramp stage the request belongs to (open model with --ramp). */
  stage: number | undefined;
  /** When the schedule wanted it sent; equals startMs in the closed model. */
  intendedMs: number;
  startMs: number;
  /** Time to first byte: response headers received, from startMs. */
  ttfbMs: number | undefined;
  endMs: number;
  /** From the intended send time, so a slow server is not hidden by a late send. */
  latencyMs: number;
  status: number | undefined;
  ok: boolean;
  /** The summary's grouping key, e.g. `HTTP 503: Too many concurrent requests…`. */
  error: string | undefined;
  /** Set when the run was interrupted (Ctrl-C) while the request was in flight. */
  cancelled: boolean;
  bytesReceived: number;
  audioSeconds: number | undefined;
}

/** One poll of `GET /health/detailed`; fields absent when the server did not say. */
export interface HealthSample {
  atMs: number;
  ok: boolean;
  error: string | undefined;
  activeRequests: number | undefined;
  maxConcurrent: number | undefined;
  queued: number | undefined;
  maxQueue: number | undefined;
  memoryPercent: number | undefined;
  memoryThresholdPercent: number | undefined;
  swapPercent: number | undefined;
  modelLoaded: boolean | undefined;
  idleTimeoutMinutes: number | undefined;
}

export interface ServerView {
  samples: number;
  failedSamples: number;
  modelLoadedAtStart: boolean | undefined;
  modelLoadedAtEnd: boolean | undefined;
  peakActiveRequests: number | undefined;
  peakQueued: number | undefined;
  peakMemoryPercent: number | undefined;
  maxConcurrent: number | undefined;
  maxQueue: number | undefined;
  memoryThresholdPercent: number | undefined;
  idleTimeoutMinutes: number | undefined;
}

export interface ErrorGroup {
  message: string;
  count: number;
}

export interface ServiceStats {
  total: number;
  successful: number;
  failed: number;
  cancelled: number;
  successRate: number;
  errorRate: number;
  /** Over successful requests, as the docs/LOAD_TESTING.md summary has always counted. */
  averageMs: number;
  minMs: number;
  maxMs: number;
  /** Sum of successful request durations ("Total Duration" in the summary block of docs/LOAD_TESTING.md). */
  totalMs: number;
  wallMs: number;
  requestsPerSecond: number;
  audioSeconds: number;
  audioSecondsPerSecond: number;
  latency: LatencySnapshot;
  ttfb: LatencySnapshot;
  errors: ErrorGroup[];
}

export interface StageStats {
  index: number;
  targetRate: number;
  durationSeconds: number;
  achievedRate: number;
  total: number;
  failed: number;
  errorRate: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface ServiceResult {
  service: string;
  url: string;
  startedMs: number;
  finishedMs: number;
  stats: ServiceStats;
  stages: StageStats[];
  server: ServerView;
  /** Sorted by id. The runner's result builds them on first read, from its RecordLog. */
  records: RequestRecord[];
  healthSamples: HealthSample[];
}

export interface OverallStats {
  total: number;
  successful: number;
  failed: number;
  errorRate: number;
  wallMs: number;
  requestsPerSecond: number;
  latency: LatencySnapshot;
}

export interface LoadTestResult {
  tool: 'voice-stack load-test';
  schemaVersion: 1;
  startedAt: string;
  finishedAt: string;
  interrupted: boolean;
  config: Record<string, unknown>;
  services: ServiceResult[];
  overall: OverallStats | undefined;
}
