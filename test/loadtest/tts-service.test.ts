import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chromiumAvailable, openInChromium } from './chromium.js';
import { outputDir, runLoadTestCli } from './cli-harness.js';
import { validateReport } from './report-schema.js';
import {
  type RunningService,
  serviceAvailable,
  startTtsService,
  voiceStackMain,
} from './tts-service-process.js';

// A missing build is a failure, not a skip: this suite must keep gating.
assert.ok(serviceAvailable(), `no built CLI at ${voiceStackMain()} (run npm run build)`);

async function withService<T>(
  settings: Record<string, string>,
  body: (service: RunningService) => Promise<T>,
): Promise<T> {
  const service = await startTtsService(settings);
  try {
    return await body(service);
  } finally {
    await service.stop();
  }
}

interface Report {
  services: Array<{
    stats: { failed: number; total: number };
    server: { peakActiveRequests: number | null; maxConcurrent: number | null };
  }>;
}

describe('load-test against the real TTS service (espeak-ng)', () => {
  test('smoke scenario: every request succeeds', () =>
    withService({}, async ({ url }) => {
      const run = await runLoadTestCli(['--service', 'tts', '--tts-host', url, '--scenario', 'smoke']);
      assert.match(run.stdout, /Successful: {10}3 \(100\.0%\)/);
      assert.match(run.stdout, /Scenario result: OK/);
      assert.equal(run.code, 0, run.stdout + run.stderr);
    }));

  test('2 slots and 10 workers: peak active_requests is 2, no errors; --json validates; --html renders', () =>
    withService({ MAX_CONCURRENT_REQUESTS: '2' }, async ({ url }) => {
      const dir = await outputDir('loadtest-tts');
      const json = join(dir, 'concurrency.json');
      const html = join(dir, 'concurrency.html');
      const run = await runLoadTestCli([
        '--service',
        'tts',
        '--tts-host',
        url,
        '--workers',
        '10',
        '--requests',
        '40',
        '--sample-interval',
        '50ms',
        '--json',
        json,
        '--html',
        html,
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /Peak Active: {7}2 \(max_concurrent 2\)/);
      const report = JSON.parse(await readFile(json, 'utf8')) as Report;
      assert.deepEqual(await validateReport(report), []);
      assert.equal(report.services[0]?.server.peakActiveRequests, 2);
      assert.equal(report.services[0]?.stats.failed, 0);
      assert.ok(chromiumAvailable(), 'chromium is installed (scripts/install-deps.sh --test)');
      await checkRendersInChromium(html, join(dir, 'concurrency.png'));
    }));

  test('concurrency scenario checks the peak against the setting', () =>
    withService({ MAX_CONCURRENT_REQUESTS: '2' }, async ({ url }) => {
      const run = await runLoadTestCli([
        '--service',
        'tts',
        '--tts-host',
        url,
        '--scenario',
        'concurrency',
        '--requests',
        '20',
        '--sample-interval',
        '50ms',
      ]);
      assert.match(run.stdout, /peak active_requests 2 = TTS_MAX_CONCURRENT_REQUESTS 2: OK/);
      assert.equal(run.code, 0, run.stdout);
    }));

  test('a tiny queue: the error summary shows the queue-full 503', () =>
    withService({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUE_SIZE: '1' }, async ({ url }) => {
      const run = await runLoadTestCli([
        '--service',
        'tts',
        '--tts-host',
        url,
        '--workers',
        '8',
        '--requests',
        '24',
      ]);
      assert.match(
        run.stdout,
        /Error Summary:\n(?: {2}\[\d+x\] .*\n)* {2}\[\d+x\] HTTP 503: Too many concurrent requests/,
      );
    }));

  test('MEMORY_THRESHOLD_PERCENT=1: the resource-threshold 503, and --threshold fails the exit code', () =>
    withService({ MEMORY_THRESHOLD_PERCENT: '1' }, async ({ url }) => {
      const run = await runLoadTestCli([
        '--service',
        'tts',
        '--tts-host',
        url,
        '--requests',
        '3',
        '--threshold',
        'tts.error_rate<1%',
      ]);
      assert.match(run.stdout, /\[3x\] HTTP 503: Resource threshold exceeded \(memory: \d+(\.\d+)?%\)/);
      assert.equal(run.code, 2);
    }));

  test('idle scenario: the model unloads after IDLE_TIMEOUT_MINUTES and reloads on the next request', () =>
    withService({ IDLE_TIMEOUT_MINUTES: '0.05' }, async ({ url }) => {
      const run = await runLoadTestCli(['--service', 'tts', '--tts-host', url, '--scenario', 'idle']);
      assert.match(run.stdout, /model unloaded after \d+\.\ds \(TTS_IDLE_TIMEOUT_MINUTES 0\.05\): OK/);
      assert.match(run.stdout, /next request succeeded and reloaded the model \(true\): OK/);
      assert.equal(run.code, 0, run.stdout);
    }));

  test('--threshold passes with exit 0 when the service meets it', () =>
    withService({}, async ({ url }) => {
      const run = await runLoadTestCli([
        '--service',
        'tts',
        '--tts-host',
        url,
        '--requests',
        '4',
        '--threshold',
        'tts.error_rate<1%,tts.p95<60s',
      ]);
      assert.equal(run.code, 0, run.stdout);
      const tight = await runLoadTestCli([
        '--service',
        'tts',
        '--tts-host',
        url,
        '--requests',
        '2',
        '--threshold',
        'tts.p50<1ms',
      ]);
      assert.equal(tight.code, 2);
    }));
});

async function checkRendersInChromium(html: string, screenshot: string): Promise<void> {
  const page = await openInChromium(html, screenshot);
  assert.deepEqual(page.consoleErrors, []);
  assert.equal((page.dom.match(/<svg /g) ?? []).length, 3, 'latency, throughput and concurrency charts');
  assert.ok((page.dom.match(/<circle /g) ?? []).length >= 40, 'one dot per request');
  assert.ok((await stat(screenshot)).size > 10_000, 'the screenshot shows a rendered page');
}
