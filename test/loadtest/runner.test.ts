import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { healthTarget } from '../../src/loadtest/health-target.js';
import { run } from '../../src/loadtest/runner.js';
import { formatSummary } from '../../src/loadtest/summary-printer.js';
import { ttsTarget } from '../../src/loadtest/tts-target.js';
import { type StubServer, startStubServer } from './stub-speech-server.js';

const texts = ['short', 'a somewhat longer sentence'];
const tts = (url: string) =>
  ttsTarget({ baseUrl: url, texts, model: 'tts-1', voice: 'alloy', responseFormat: 'wav', speed: 1 });
const closed = (workers: number, requests: number) => ({
  workers,
  requests,
  durationMs: undefined,
  open: undefined,
});

describe('runner against a stub service', () => {
  let stub: StubServer;
  before(async () => {
    stub = await startStubServer({ slots: 2, maxQueue: 64, serviceMs: 30 });
  });
  after(() => stub.close());

  test('closed model: every request counted, peaks seen by the server view', async () => {
    const result = await run({
      targets: [tts(stub.url)],
      plan: closed(10, 40),
      together: false,
      timeoutMs: 10_000,
      sampleIntervalMs: 20,
    });
    const service = result.services[0];
    assert.ok(service);
    assert.equal(service.stats.total, 40);
    assert.equal(service.stats.successful, 40);
    assert.equal(service.records.length, 40);
    assert.equal(service.server.maxConcurrent, 2);
    assert.equal(service.server.peakActiveRequests, 2);
    assert.equal(service.server.modelLoadedAtStart, false);
    assert.ok(service.stats.audioSeconds > 0, 'audio seconds are read from the WAV bodies');
    assert.ok(service.stats.latency.p50Ms <= service.stats.latency.p99Ms);
    assert.ok(
      service.records.every((record) => record.ttfbMs !== undefined && record.ttfbMs <= record.latencyMs),
    );
  });

  test('closed model with a duration: runs at least that long, then lets what is in flight finish', async () => {
    const result = await run({
      targets: [tts(stub.url)],
      plan: { workers: 3, requests: undefined, durationMs: 300, open: undefined },
      together: false,
      timeoutMs: 10_000,
      sampleIntervalMs: 0,
    });
    const service = result.services[0];
    assert.ok(service);
    assert.ok(service.stats.wallMs >= 300, `ran ${service.stats.wallMs} ms`);
    assert.ok(service.stats.successful > 3, 'each worker sent more than one request');
    assert.equal(service.records.length, service.stats.total);
    assert.ok(service.records.every((record) => record.ok && record.endMs <= service.finishedMs));
  });

  test('summary keeps the summary block of docs/LOAD_TESTING.md and adds the new sections', async () => {
    const result = await run({
      targets: [tts(stub.url)],
      plan: closed(2, 4),
      together: false,
      timeoutMs: 10_000,
      sampleIntervalMs: 50,
    });
    const text = formatSummary(result);
    assert.match(
      text,
      /^TTS Load Test Results\n={20}\nTotal Requests: {6}4\nSuccessful: {10}4 \(100\.0%\)\nFailed: {14}0\n\nTiming Statistics:\n {2}Average Duration: {2}\d+\.\d\ds\n/,
    );
    for (const section of [
      'Latency Percentiles',
      'Time to First Byte:',
      'Throughput:',
      'Server View (/health/detailed',
    ]) {
      assert.ok(text.includes(section), section);
    }
  });

  test('open model measures from the intended send time, so a backlog shows as latency', async () => {
    const slow = await startStubServer({ slots: 1, serviceMs: 50 });
    try {
      // 40/s against a server that does 20/s: each request waits for the ones before it.
      const plan = {
        workers: 64,
        requests: 20,
        durationMs: undefined,
        open: { arrival: 'constant' as const, stages: [{ rate: 40, durationMs: Number.POSITIVE_INFINITY }] },
      };
      const result = await run({
        targets: [tts(slow.url)],
        plan,
        together: false,
        timeoutMs: 10_000,
        sampleIntervalMs: 0,
      });
      const stats = result.services[0]?.stats;
      assert.equal(stats?.successful, 20);
      assert.ok(
        (stats?.latency.maxMs ?? 0) > 150,
        `max latency ${stats?.latency.maxMs}ms includes the backlog`,
      );
      const intended = result.services[0]?.records.map((record) => record.intendedMs) ?? [];
      assert.ok(
        Math.abs((intended[19] ?? 0) - (intended[0] ?? 0) - 19 * 25) < 1,
        'sends are scheduled 25 ms apart',
      );
    } finally {
      await slow.close();
    }
  });

  test('queue full: grouped as HTTP 503 with the server message', async () => {
    const tiny = await startStubServer({ slots: 1, maxQueue: 1, serviceMs: 100 });
    try {
      const result = await run({
        targets: [tts(tiny.url)],
        plan: closed(6, 12),
        together: false,
        timeoutMs: 10_000,
        sampleIntervalMs: 0,
      });
      const text = formatSummary(result);
      assert.match(text, /Error Summary:\n {2}\[\d+x\] HTTP 503: Too many concurrent requests/);
    } finally {
      await tiny.close();
    }
  });

  test('timeouts and refused connections are failures with their own labels, never retried', async () => {
    const slow = await startStubServer({ slots: 1, serviceMs: 2000 });
    const gone = await startStubServer();
    await gone.close();
    try {
      const timedOut = await run({
        targets: [tts(slow.url)],
        plan: closed(1, 1),
        together: false,
        timeoutMs: 200,
        sampleIntervalMs: 0,
      });
      assert.deepEqual(timedOut.services[0]?.stats.errors, [{ message: 'Timeout after 0.2s', count: 1 }]);
      const refused = await run({
        targets: [healthTarget(gone.url)],
        plan: closed(2, 3),
        together: false,
        timeoutMs: 1000,
        sampleIntervalMs: 0,
      });
      const errors = refused.services[0]?.stats.errors ?? [];
      assert.equal(errors[0]?.count, 3, 'three requests, three attempts, three failures');
      assert.match(errors[0]?.message ?? '', /^Connection error: ECONNREFUSED/);
    } finally {
      await slow.close();
    }
  });

  test('an abort (Ctrl-C) stops the run and returns the partial result', async () => {
    const slow = await startStubServer({ slots: 1, serviceMs: 300 });
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 500);
      const result = await run({
        targets: [tts(slow.url)],
        plan: closed(2, 1000),
        together: false,
        timeoutMs: 10_000,
        sampleIntervalMs: 0,
        signal: controller.signal,
      });
      const stats = result.services[0]?.stats;
      assert.equal(result.interrupted, true);
      assert.ok((stats?.total ?? 0) < 1000);
      assert.ok((stats?.cancelled ?? 0) >= 1, 'the requests in flight are cancelled, not failed');
      assert.equal(stats?.failed, 0);
      assert.match(formatSummary(result), /Run interrupted: partial results/);
    } finally {
      await slow.close();
    }
  });
});
