import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadSettings, parseSettings, SettingsError } from '../../src/core/settings.js';

describe('settings', () => {
  it('has the defaults docs/CONFIGURATION.md documents', () => {
    const s = parseSettings({});
    assert.equal(s.host, '0.0.0.0');
    assert.equal(s.asr.port, 5001);
    assert.equal(s.tts.port, 5002);
    assert.equal(s.asr.model, 'base');
    assert.equal(s.tts.engine, 'espeak-ng');
    assert.equal(s.asr.maxConcurrentRequests, 2);
    assert.equal(s.tts.maxQueueSize, 64);
    assert.equal(s.queueTimeoutSeconds, 300);
    assert.equal(s.memoryThresholdPercent, 90);
    assert.equal(s.swapThresholdPercent, 80);
    assert.equal(s.maxUploadSizeMb, 1024);
    assert.equal(s.asr.maxAudioHours, 6);
    assert.equal(s.asr.idleTimeoutMinutes, 60);
    assert.equal(s.apiKey, undefined);
    assert.deepEqual(s.corsOrigins, []);
    assert.equal(s.asr.cpuThreads, 0);
    assert.equal(s.asr.inferenceNice, 10);
    assert.equal(s.asr.whisperBuild, 'current');
  });

  it('takes ASR_WHISPER_BUILD current or bundled, nothing else', () => {
    assert.equal(parseSettings({ ASR_WHISPER_BUILD: 'bundled' }).asr.whisperBuild, 'bundled');
    assert.equal(parseSettings({ ASR_WHISPER_BUILD: 'current' }).asr.whisperBuild, 'current');
    for (const bad of ['1.8.3', 'native', 'old'])
      assert.throws(() => parseSettings({ ASR_WHISPER_BUILD: bad }), /ASR_WHISPER_BUILD/);
  });

  it('takes ASR_INFERENCE_NICE from 0 (off) to 19, nothing else', () => {
    assert.equal(parseSettings({ ASR_INFERENCE_NICE: '0' }).asr.inferenceNice, 0);
    assert.equal(parseSettings({ ASR_INFERENCE_NICE: '19' }).asr.inferenceNice, 19);
    for (const bad of ['20', '-1', '2.5', 'low'])
      assert.throws(() => parseSettings({ ASR_INFERENCE_NICE: bad }), /ASR_INFERENCE_NICE/);
  });

  it('lets ASR_/TTS_ prefixed names override the shared ones', () => {
    const s = parseSettings({
      MAX_CONCURRENT_REQUESTS: '3',
      TTS_MAX_CONCURRENT_REQUESTS: '5',
      IDLE_TIMEOUT_MINUTES: '0.05',
      ASR_IDLE_TIMEOUT_MINUTES: '0',
      MAX_QUEUE_SIZE: '7',
      ASR_MAX_QUEUE_SIZE: '1',
    });
    assert.equal(s.asr.maxConcurrentRequests, 3);
    assert.equal(s.tts.maxConcurrentRequests, 5);
    assert.equal(s.tts.idleTimeoutMinutes, 0.05);
    assert.equal(s.asr.idleTimeoutMinutes, 0);
    assert.equal(s.tts.maxQueueSize, 7);
    assert.equal(s.asr.maxQueueSize, 1);
  });

  it('reports every bad value by name', () => {
    assert.throws(
      () =>
        parseSettings({ MAX_CONCURRENT_REQUESTS: 'abc', ASR_DEVICE: 'tpu', MEMORY_THRESHOLD_PERCENT: '150' }),
      (error: unknown) => {
        assert.ok(error instanceof SettingsError);
        assert.equal(error.problems.length, 3);
        assert.match(error.message, /MAX_CONCURRENT_REQUESTS="abc"/);
        assert.match(error.message, /ASR_DEVICE="tpu": expected one of cpu, cuda, auto/);
        assert.match(error.message, /MEMORY_THRESHOLD_PERCENT="150": expected at most 100/);
        return true;
      },
    );
  });

  it('reads the jobs settings: off without REDIS_URL, checked when set', () => {
    const off = parseSettings({});
    assert.equal(off.jobs.redisUrl, undefined);
    assert.equal(off.jobs.retentionHours, 24);
    assert.equal(off.jobs.splitMinutes, 10);
    assert.equal(off.jobs.worker, true);
    assert.equal(off.jobs.dispatch, 'local');
    assert.equal(off.jobs.webhookAllowPrivate, false);
    const on = parseSettings({
      REDIS_URL: 'redis://:pw@redis:6379/2',
      ASR_JOBS_WORKER: 'false',
      ASR_DISPATCH: 'queue',
      JOB_RETENTION_HOURS: '1.5',
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    assert.equal(on.jobs.redisUrl, 'redis://:pw@redis:6379/2');
    assert.equal(on.jobs.worker, false);
    assert.equal(on.jobs.dispatch, 'queue');
    assert.equal(on.jobs.retentionHours, 1.5);
    assert.throws(
      () => parseSettings({ REDIS_URL: 'localhost:6379', ASR_DISPATCH: 'queue', JOB_LOCK_SECONDS: '0' }),
      (error: unknown) => {
        assert.ok(error instanceof SettingsError);
        assert.match(error.message, /REDIS_URL="localhost:6379": expected redis:\/\/host:port/);
        assert.match(error.message, /ASR_DISPATCH="queue": needs REDIS_URL/);
        assert.match(error.message, /JOB_LOCK_SECONDS="0": expected at least 1/);
        return true;
      },
    );
  });

  it('reads .env, and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vs-settings-'));
    writeFileSync(join(dir, '.env'), 'TTS_PORT=6000\nASR_PORT=6001\nCORS_ORIGINS=http://a, http://b\n');
    const s = loadSettings({ cwd: dir, env: { ASR_PORT: '7001' } });
    assert.equal(s.tts.port, 6000);
    assert.equal(s.asr.port, 7001);
    assert.deepEqual(s.corsOrigins, ['http://a', 'http://b']);
  });
});
