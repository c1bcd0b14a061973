import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadTestResult, ServiceResult } from '../../src/loadtest/load-test-result.js';
import { summarizeServer } from '../../src/loadtest/server-view.js';
import { computeServiceStats } from '../../src/loadtest/service-stats.js';
import { evaluateThresholds, parseThresholds } from '../../src/loadtest/threshold.js';

function service(name: string, latencies: number[], failures: number): ServiceResult {
  const records = [
    ...latencies.map((latencyMs, id) => ({ ok: true, latencyMs, id, error: undefined })),
    ...Array.from({ length: failures }, (_, i) => ({
      ok: false,
      latencyMs: 5,
      id: 1000 + i,
      error: 'HTTP 503: x',
    })),
  ].map((r) => ({
    ...r,
    service: name,
    stage: undefined,
    intendedMs: 0,
    startMs: 0,
    ttfbMs: 1,
    endMs: r.latencyMs,
    status: r.ok ? 200 : 503,
    cancelled: false,
    bytesReceived: 0,
    audioSeconds: undefined,
  }));
  return {
    service: name,
    url: '',
    startedMs: 0,
    finishedMs: 1000,
    stats: computeServiceStats(records, 1000),
    stages: [],
    server: summarizeServer([]),
    records,
    healthSamples: [],
  };
}

const result = (services: ServiceResult[]): LoadTestResult => ({
  tool: 'voice-stack load-test',
  schemaVersion: 1,
  startedAt: '',
  finishedAt: '',
  interrupted: false,
  config: {},
  services,
  overall: undefined,
});

test('thresholds parse units: seconds, milliseconds, percentages', () => {
  const [p95, rate] = parseThresholds('asr.p95<5s, tts.error_rate<1%');
  assert.deepEqual([p95?.scope, p95?.metric, p95?.operator, p95?.value], ['asr', 'p95', '<', 5000]);
  assert.deepEqual([rate?.scope, rate?.metric, rate?.value], ['tts', 'error_rate', 0.01]);
  assert.equal(parseThresholds('p99<=250ms')[0]?.value, 250);
  assert.throws(() => parseThresholds('asr.p97<1s'), /unknown threshold metric/);
  assert.throws(() => parseThresholds('asr.p95 about 1s'), /invalid threshold/);
});

test('thresholds pass and fail per service; an unscoped one applies to every service', () => {
  const run = result([service('asr', [100, 200, 300], 0), service('tts', [50, 60], 1)]);
  const outcomes = evaluateThresholds(parseThresholds('asr.p95<1s,tts.error_rate<1%,max<250ms'), run);
  assert.deepEqual(
    outcomes.map((o) => [o.scope, o.threshold.metric, o.passed]),
    [
      ['asr', 'p95', true],
      ['tts', 'error_rate', false],
      ['asr', 'max', false],
      ['tts', 'max', true],
    ],
  );
});
