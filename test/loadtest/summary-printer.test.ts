import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestRecord, ServiceResult } from '../../src/loadtest/load-test-result.js';
import { summarizeServer } from '../../src/loadtest/server-view.js';
import { computeServiceStats } from '../../src/loadtest/service-stats.js';
import { formatService } from '../../src/loadtest/summary-printer.js';

function record(id: number, latencyMs: number, error?: string): RequestRecord {
  return {
    id,
    service: 'asr',
    stage: undefined,
    intendedMs: 0,
    startMs: 0,
    ttfbMs: latencyMs / 2,
    endMs: latencyMs,
    latencyMs,
    status: error ? 503 : 200,
    ok: !error,
    error,
    cancelled: false,
    bytesReceived: 10,
    audioSeconds: error ? undefined : 5,
  };
}

test('the summary block of docs/LOAD_TESTING.md is reproduced exactly, then the added sections follow', () => {
  // 48 successes averaging 2.34 s (sum 112.32 s), min 1.23 s, max 5.67 s, 2 threshold refusals.
  const latencies = [1230, 5670, ...Array.from({ length: 46 }, () => (112_320 - 1230 - 5670) / 46)];
  const records = [
    ...latencies.map((ms, id) => record(id, ms)),
    record(48, 10, 'HTTP 503: Resource threshold exceeded (memory: 92%)'),
    record(49, 12, 'HTTP 503: Resource threshold exceeded (memory: 92%)'),
  ];
  const service: ServiceResult = {
    service: 'asr',
    url: 'http://127.0.0.1:5001',
    startedMs: 0,
    finishedMs: 30_000,
    stats: computeServiceStats(records, 30_000),
    stages: [],
    server: summarizeServer([]),
    records,
    healthSamples: [],
  };
  const expected = `ASR Load Test Results
====================
Total Requests:      50
Successful:          48 (96.0%)
Failed:              2

Timing Statistics:
  Average Duration:  2.34s
  Min Duration:      1.23s
  Max Duration:      5.67s
  Total Duration:    112.32s

Error Summary:
  [2x] HTTP 503: Resource threshold exceeded (memory: 92%)
`;
  const text = formatService(service);
  assert.equal(text.slice(0, expected.length), expected);
  assert.match(
    text,
    /Throughput:\n {2}Wall Time: {9}30\.00s\n {2}Requests\/s: {8}1\.67\n {2}Audio Seconds\/s: {3}8\.00 \(transcribed per wall second\)/,
  );
});
