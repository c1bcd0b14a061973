import { writeFile } from 'node:fs/promises';
import { formatMs, formatSeconds } from './duration.js';
import type { LoadTestResult, ServiceResult } from './load-test-result.js';
import type { ScenarioReport } from './scenarios/scenario.js';
import { formatSummary } from './summary-printer.js';
import { escapeXml, svgChart } from './svg-chart.js';
import type { ThresholdOutcome } from './threshold.js';
import { bucketMsFor, inFlightSeries, latencyDots, p95Series, throughputSeries } from './time-series.js';

const STYLE = `
body{font-family:system-ui,sans-serif;margin:24px;color:#1a1a1a;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f4f4}.ok{color:#167c2b;font-weight:600}.fail{color:#b3261e;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart-title{font-size:13px;font-weight:600}
.tick,.legend{font-size:11px;fill:#444}.axis-label{font-size:11px;fill:#666}
.grid{stroke:#eee}.axis{stroke:#888}pre{background:#f7f7f7;padding:12px;overflow:auto}`;

/** One page, no external resources: charts are inline SVG drawn here, no script at all. */
export function renderHtmlReport(
  result: LoadTestResult,
  thresholds: readonly ThresholdOutcome[] = [],
  scenario?: ScenarioReport,
): string {
  const title = `voice-stack load test — ${result.startedAt}`;
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeXml(title)}</h1>`,
    result.interrupted ? '<p class="fail">Run interrupted: partial results.</p>' : '',
    configTable(result.config),
    thresholds.length > 0 ? thresholdTable(thresholds) : '',
    scenario ? scenarioTable(scenario) : '',
    ...result.services.map(serviceSection),
    `<h2>Text summary</h2><pre>${escapeXml(formatSummary(result))}</pre>`,
    '</body></html>',
  ].join('\n');
}

export async function writeHtmlReport(
  path: string,
  result: LoadTestResult,
  thresholds: readonly ThresholdOutcome[] = [],
  scenario?: ScenarioReport,
): Promise<void> {
  await writeFile(path, renderHtmlReport(result, thresholds, scenario));
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const head = `<tr>${header.map((cell) => `<th>${escapeXml(cell)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('');
  return `<table>${head}${body}</table>`;
}

function configTable(config: Record<string, unknown>): string {
  const rows = Object.entries(config)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => [
      escapeXml(key),
      escapeXml(typeof value === 'string' ? value : JSON.stringify(value)),
    ]);
  return `<h2>Configuration</h2>${table(['option', 'value'], rows)}`;
}

function thresholdTable(outcomes: readonly ThresholdOutcome[]): string {
  const rows = outcomes.map((outcome) => [
    escapeXml(`${outcome.scope}: ${outcome.threshold.expression}`),
    outcome.actual === undefined ? 'no data' : escapeXml(String(Number(outcome.actual.toFixed(4)))),
    outcome.passed ? '<span class="ok">OK</span>' : '<span class="fail">FAIL</span>',
  ]);
  return `<h2>Thresholds</h2>${table(['threshold', 'actual', 'result'], rows)}`;
}

function scenarioTable(scenario: ScenarioReport): string {
  const rows = scenario.checks.map((item) => [
    escapeXml(item.service),
    escapeXml(item.name),
    `<span class="${item.status === 'FAIL' ? 'fail' : 'ok'}">${item.status}</span>`,
  ]);
  return `<h2>Scenario: ${escapeXml(scenario.name)}</h2>${table(['service', 'check', 'result'], rows)}`;
}

function serviceSection(service: ServiceResult): string {
  const s = service.stats;
  const summary = table(
    ['metric', 'value'],
    [
      ['Total requests', String(s.total)],
      ['Successful', `${s.successful} (${(s.successRate * 100).toFixed(1)}%)`],
      ['Failed', String(s.failed)],
      [
        'Average / min / max',
        `${formatSeconds(s.averageMs / 1000)} / ${formatSeconds(s.minMs / 1000)} / ${formatSeconds(s.maxMs / 1000)}`,
      ],
      [
        'p50 / p90 / p95 / p99',
        [s.latency.p50Ms, s.latency.p90Ms, s.latency.p95Ms, s.latency.p99Ms].map(formatMs).join(' / '),
      ],
      ['TTFB p50 / p95 / p99', [s.ttfb.p50Ms, s.ttfb.p95Ms, s.ttfb.p99Ms].map(formatMs).join(' / ')],
      ['Requests/s', s.requestsPerSecond.toFixed(2)],
      ['Audio seconds per wall second', s.audioSecondsPerSecond.toFixed(2)],
      ['Wall time', formatSeconds(s.wallMs / 1000)],
    ].map(([label = '', value = '']) => [escapeXml(label), escapeXml(value)]),
  );
  const errors =
    s.errors.length === 0
      ? '<p>No errors.</p>'
      : table(
          ['count', 'error'],
          s.errors.map((group) => [String(group.count), escapeXml(group.message)]),
        );
  return [
    `<h2>${escapeXml(service.service.toUpperCase())} — ${escapeXml(service.url)}</h2>`,
    summary,
    '<h3>Errors</h3>',
    errors,
    serverTable(service),
    `<div class="charts">${charts(service).join('\n')}</div>`,
  ].join('\n');
}

function serverTable(service: ServiceResult): string {
  const v = service.server;
  if (v.samples === 0) return '';
  const show = (value: unknown) => escapeXml(value === undefined ? 'n/a' : String(value));
  return `<h3>Server view (/health/detailed, ${v.samples} samples)</h3>${table(
    ['measure', 'value', 'configured'],
    [
      ['Model loaded at start', show(v.modelLoadedAtStart), ''],
      ['Peak active requests', show(v.peakActiveRequests), show(v.maxConcurrent)],
      ['Peak queued', show(v.peakQueued), show(v.maxQueue)],
      ['Peak memory %', show(v.peakMemoryPercent?.toFixed(1)), show(v.memoryThresholdPercent)],
    ],
  )}`;
}

function charts(service: ServiceResult): string[] {
  const origin = service.startedMs;
  const wallMs = service.stats.wallMs;
  const bucketMs = bucketMsFor(wallMs);
  const samples = service.healthSamples.filter((sample) => sample.ok);
  const serverPoints = (pick: (sample: (typeof samples)[number]) => number | undefined) =>
    samples.flatMap((sample) => {
      const value = pick(sample);
      return value === undefined ? [] : [[Math.max(0, sample.atMs - origin) / 1000, value] as const];
    });
  return [
    svgChart({
      title: 'Latency over time',
      xLabel: 'intended send time (s)',
      yLabel: 'latency (s)',
      series: [
        {
          name: 'request',
          color: '#3b6fb6',
          kind: 'dots',
          points: latencyDots(service.records, origin, true),
        },
        {
          name: 'failed',
          color: '#b3261e',
          kind: 'dots',
          points: latencyDots(service.records, origin, false),
        },
        { name: 'p95', color: '#e08a00', kind: 'line', points: p95Series(service.records, origin, bucketMs) },
      ],
    }),
    svgChart({
      title: 'Throughput',
      xLabel: 'time (s)',
      yLabel: 'requests/s',
      series: [
        {
          name: 'successful',
          color: '#167c2b',
          kind: 'line',
          points: throughputSeries(service.records, origin, bucketMs, wallMs, (r) => r.ok),
        },
        {
          name: 'failed',
          color: '#b3261e',
          kind: 'line',
          points: throughputSeries(service.records, origin, bucketMs, wallMs, (r) => !r.ok),
        },
      ],
    }),
    svgChart({
      title: 'Concurrency',
      xLabel: 'time (s)',
      yLabel: 'requests',
      series: [
        {
          name: 'client in flight',
          color: '#3b6fb6',
          kind: 'line',
          points: inFlightSeries(service.records, origin),
        },
        {
          name: 'server active',
          color: '#167c2b',
          kind: 'line',
          points: serverPoints((sample) => sample.activeRequests),
        },
        {
          name: 'server queued',
          color: '#e08a00',
          kind: 'line',
          points: serverPoints((sample) => sample.queued),
        },
      ],
    }),
  ];
}
