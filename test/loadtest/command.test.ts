import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outputDir, runLoadTestCli, tempDir } from './cli-harness.js';
import { validateReport } from './report-schema.js';
import { type StubServer, startStubServer } from './stub-speech-server.js';

describe('load-test command against stub services', () => {
  let tts: StubServer;
  let asr: StubServer;
  let cacheDir: string;
  before(async () => {
    tts = await startStubServer({ slots: 2, serviceMs: 20 });
    asr = await startStubServer({ slots: 2, serviceMs: 20 });
    cacheDir = await tempDir('vs-load-test-cache-');
  });
  after(async () => {
    await tts.close();
    await asr.close();
  });
  const hosts = () => ['--tts-host', tts.url, '--asr-host', asr.url];

  test('--service both runs ASR then TTS on synthesised speech and adds an overall summary', async () => {
    const run = await runLoadTestCli(['--service', 'both', '--workers', '2', '--requests', '4', ...hosts()], {
      MODEL_CACHE_DIR: cacheDir,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.indexOf('ASR Load Test Results') < run.stdout.indexOf('TTS Load Test Results'));
    assert.match(run.stdout, /Overall Results\n={20}\nTotal Requests: {6}8\n/);
    assert.match(run.stdout, /Audio Seconds\/s: +\d+\.\d\d \(transcribed per wall second\)/);
    const cached = await readFile(join(cacheDir, 'load-test', 'load-test-speech.wav'));
    assert.ok(cached.length > 44 * 100, 'real speech, synthesised once and cached');
  });

  test('--verbose prints a line per request', async () => {
    const run = await runLoadTestCli([
      '--service',
      'tts',
      '--workers',
      '1',
      '--requests',
      '3',
      '--verbose',
      ...hosts(),
    ]);
    assert.equal(run.stdout.match(/^\[tts #\d+\] 200 \d+\.\d{3}s$/gm)?.length, 3);
  });

  test('--threshold passes with exit 0 and fails with exit 2', async () => {
    const pass = await runLoadTestCli([
      '--service',
      'tts',
      '--requests',
      '3',
      '--threshold',
      'tts.p95<30s,tts.error_rate<1%',
      ...hosts(),
    ]);
    assert.equal(pass.code, 0, pass.stdout);
    assert.match(pass.stdout, /OK {3}tts\.p95 < 30\.000s/);
    const fail = await runLoadTestCli([
      '--service',
      'tts',
      '--requests',
      '3',
      '--threshold',
      'tts.p95<1ms',
      ...hosts(),
    ]);
    assert.equal(fail.code, 2);
    assert.match(fail.stdout, /FAIL tts\.p95 < 0\.001s/);
    const missing = await runLoadTestCli([
      '--service',
      'tts',
      '--requests',
      '1',
      '--threshold',
      'asr.p95<5s',
      ...hosts(),
    ]);
    assert.equal(missing.code, 2, 'a threshold on a service that did not run is a failed gate');
  });

  test('--json validates against the documented schema; --html is one self-contained page', async () => {
    const dir = await outputDir('loadtest-stub');
    const json = join(dir, 'report.json');
    const html = join(dir, 'report.html');
    const run = await runLoadTestCli([
      '--service',
      'tts',
      '--rate',
      '50',
      '--duration',
      '0.4s',
      '--json',
      json,
      '--html',
      html,
      '--threshold',
      'tts.p99<30s',
      ...hosts(),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(await readFile(json, 'utf8')) as {
      services: Array<{ records: unknown[]; stages: unknown[] }>;
    };
    assert.deepEqual(await validateReport(report), []);
    assert.ok((report.services[0]?.records.length ?? 0) > 5);
    assert.equal(report.services[0]?.stages.length, 1);
    const page = await readFile(html, 'utf8');
    assert.equal((page.match(/<svg /g) ?? []).length, 3);
    assert.doesNotMatch(page, /<script|<link|src="http|href="http/);
  });

  test('--ramp reports each stage', async () => {
    const run = await runLoadTestCli([
      '--service',
      'tts',
      '--ramp',
      '20:0.3s,40:0.3s',
      '--arrival',
      'poisson',
      ...hosts(),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Ramp Stages:\n {2}stage +target\/s.*\n {2}1 +20\.00 .*\n {2}2 +40\.00 /);
  });

  test('bad flags exit 1 with a message', async () => {
    const run = await runLoadTestCli(['--service', 'tts', '--rate', '5', '--ramp', '1:1s', ...hosts()]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /use --rate or --ramp, not both/);
  });

  test('--scenario concurrency checks the peak against the configured slots', async () => {
    const run = await runLoadTestCli(['--service', 'tts', '--scenario', 'concurrency', ...hosts()]);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /\[tts\] peak active_requests 2 = TTS_MAX_CONCURRENT_REQUESTS 2: OK/);
    assert.match(run.stdout, /Scenario result: OK/);
  });

  test('--scenario thresholds sees the queue-full 503s', async () => {
    const small = await startStubServer({ slots: 1, maxQueue: 2, serviceMs: 30 });
    try {
      const run = await runLoadTestCli([
        '--service',
        'tts',
        '--scenario',
        'thresholds',
        '--tts-host',
        small.url,
      ]);
      assert.match(run.stdout, /"HTTP 503: Too many concurrent requests" seen: OK/);
      assert.equal(run.code, 0, run.stdout);
    } finally {
      await small.close();
    }
  });

  test('--scenario stress ramps the open model and names the breaking point', async () => {
    const run = await runLoadTestCli([
      '--service',
      'tts',
      '--scenario',
      'stress',
      '--ramp',
      '20:0.3s,200:0.3s',
      ...hosts(),
    ]);
    assert.match(run.stdout, /Ramp Stages:/);
    assert.match(run.stdout, /\[tts\] breaking point: .*: OK/);
    assert.match(run.stdout, /overload answered with 503s, not timeouts or dropped connections: OK/);
  });

  test('--scenario soak holds steady load for --duration and checks for drift', async () => {
    const run = await runLoadTestCli([
      '--service',
      'tts',
      '--scenario',
      'soak',
      '--duration',
      '1s',
      '--sample-interval',
      '100ms',
      ...hosts(),
    ]);
    assert.match(run.stdout, /\[tts\] errors 0 = 0 over 1s: OK/);
    assert.match(run.stdout, /\[tts\] memory grew 0\.0 points \(< 10\): OK/);
    assert.equal(run.code, 0, run.stdout);
  });

  test('an interrupted run prints the partial summary and exits 130', async () => {
    const slow = await startStubServer({ slots: 1, serviceMs: 200 });
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 400);
      const run = await runLoadTestCli(
        ['--service', 'tts', '--requests', '500', '--tts-host', slow.url],
        {},
        controller.signal,
      );
      assert.equal(run.code, 130);
      assert.match(run.stdout, /TTS Load Test Results[\s\S]*Run interrupted: partial results/);
    } finally {
      await slow.close();
    }
  });
});
