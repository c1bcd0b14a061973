import { formatMs, formatSeconds } from './duration.js';
import type { LatencySnapshot } from './latency-histogram.js';
import type {
  LoadTestResult,
  OverallStats,
  ServerView,
  ServiceResult,
  StageStats,
} from './load-test-result.js';

const LABEL_WIDTH = 21;
const RULE = '='.repeat(20);

/** The text summary: the summary block of docs/LOAD_TESTING.md per service, unchanged, then what this tester adds. */
export function formatSummary(result: LoadTestResult): string {
  const blocks = result.services.map(formatService);
  if (result.overall) blocks.push(formatOverall(result.overall));
  if (result.interrupted)
    blocks.push('Run interrupted: partial results (requests in flight were cancelled).');
  return `${blocks.join('\n\n')}\n`;
}

function line(label: string, value: string | number): string {
  return `${label.padEnd(LABEL_WIDTH)}${value}`;
}

export function formatService(service: ServiceResult): string {
  const s = service.stats;
  const lines = [
    `${service.service.toUpperCase()} Load Test Results`,
    RULE,
    line('Total Requests:', s.total),
    line('Successful:', `${s.successful} (${(s.successRate * 100).toFixed(1)}%)`),
    line('Failed:', s.failed),
  ];
  if (s.cancelled > 0) lines.push(line('Cancelled:', `${s.cancelled} (run interrupted)`));
  lines.push(
    '',
    'Timing Statistics:',
    line('  Average Duration:', formatSeconds(s.averageMs / 1000)),
    line('  Min Duration:', formatSeconds(s.minMs / 1000)),
    line('  Max Duration:', formatSeconds(s.maxMs / 1000)),
    line('  Total Duration:', formatSeconds(s.totalMs / 1000)),
  );
  if (s.errors.length > 0) {
    lines.push('', 'Error Summary:', ...s.errors.map((group) => `  [${group.count}x] ${group.message}`));
  }
  lines.push('', ...latencyLines('Latency Percentiles (from intended send time):', s.latency));
  lines.push('', ...latencyLines('Time to First Byte:', s.ttfb));
  lines.push('', ...throughputLines(service));
  if (service.server.samples > 0) lines.push('', ...serverLines(service.server));
  if (service.stages.length > 0) lines.push('', ...stageLines(service.stages));
  return lines.join('\n');
}

function latencyLines(title: string, latency: LatencySnapshot): string[] {
  if (latency.count === 0) return [title, '  n/a (no successful request)'];
  return [
    title,
    line('  p50:', formatMs(latency.p50Ms)),
    line('  p90:', formatMs(latency.p90Ms)),
    line('  p95:', formatMs(latency.p95Ms)),
    line('  p99:', formatMs(latency.p99Ms)),
    line('  max:', formatMs(latency.maxMs)),
  ];
}

function throughputLines(service: ServiceResult): string[] {
  const s = service.stats;
  const lines = [
    'Throughput:',
    line('  Wall Time:', formatSeconds(s.wallMs / 1000)),
    line('  Requests/s:', s.requestsPerSecond.toFixed(2)),
  ];
  if (s.audioSeconds > 0) {
    const verb = service.service === 'asr' ? 'transcribed' : 'produced';
    lines.push(line('  Audio Seconds/s:', `${s.audioSecondsPerSecond.toFixed(2)} (${verb} per wall second)`));
  }
  return lines;
}

function serverLines(view: ServerView): string[] {
  const of = (value: number | undefined, limit: number | undefined, name: string) =>
    `${value ?? 'n/a'}${limit === undefined ? '' : ` (${name} ${limit})`}`;
  const memory =
    view.peakMemoryPercent === undefined
      ? 'n/a'
      : `${view.peakMemoryPercent.toFixed(1)}%${view.memoryThresholdPercent === undefined ? '' : ` (threshold ${view.memoryThresholdPercent}%)`}`;
  const lines = [
    `Server View (/health/detailed, ${view.samples} samples):`,
    line('  Model at Start:', yesNo(view.modelLoadedAtStart, 'loaded', 'not loaded')),
    line('  Peak Active:', of(view.peakActiveRequests, view.maxConcurrent, 'max_concurrent')),
    line('  Peak Queued:', of(view.peakQueued, view.maxQueue, 'max_queue')),
    line('  Peak Memory:', memory),
  ];
  if (view.failedSamples > 0) lines.push(line('  Failed Samples:', view.failedSamples));
  return lines;
}

function yesNo(value: boolean | undefined, yes: string, no: string): string {
  return value === undefined ? 'n/a' : value ? yes : no;
}

function stageLines(stages: readonly StageStats[]): string[] {
  const header = ['stage', 'target/s', 'achieved/s', 'requests', 'errors', 'p50', 'p95', 'p99'];
  const rows = stages.map((stage) => [
    String(stage.index + 1),
    stage.targetRate.toFixed(2),
    stage.achievedRate.toFixed(2),
    String(stage.total),
    `${(stage.errorRate * 100).toFixed(1)}%`,
    formatMs(stage.p50Ms),
    formatMs(stage.p95Ms),
    formatMs(stage.p99Ms),
  ]);
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const render = (row: readonly string[]) =>
    `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')}`.trimEnd();
  return ['Ramp Stages:', render(header), ...rows.map(render)];
}

function formatOverall(overall: OverallStats): string {
  return [
    'Overall Results',
    RULE,
    line('Total Requests:', overall.total),
    line('Successful:', `${overall.successful} (${percent(overall.successful, overall.total)})`),
    line('Failed:', overall.failed),
    line('Wall Time:', formatSeconds(overall.wallMs / 1000)),
    line('Requests/s:', overall.requestsPerSecond.toFixed(2)),
    '',
    ...latencyLines('Latency Percentiles:', overall.latency),
  ].join('\n');
}

function percent(part: number, whole: number): string {
  return `${(whole === 0 ? 0 : (part / whole) * 100).toFixed(1)}%`;
}
