import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { ServiceProcess } from '../support/service-process.js';
import { runLoadTestCli } from './cli-harness.js';

describe('load-test against the real ASR service (whisper.cpp, generated model)', () => {
  test('smoke run on real speech succeeds and reports audio seconds transcribed', async () => {
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      MAX_CONCURRENT_REQUESTS: '2',
    });
    try {
      const audio = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
      const run = await runLoadTestCli([
        '--service',
        'asr',
        '--asr-host',
        server.url('asr'),
        '--workers',
        '3',
        '--requests',
        '6',
        '--audio',
        audio,
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /ASR Load Test Results/);
      assert.match(run.stdout, /Successful: {10}6 \(100\.0%\)/);
      assert.match(run.stdout, /Peak Active: {7}2 \(max_concurrent 2\)/);
    } finally {
      await server.stop();
    }
  });
});
