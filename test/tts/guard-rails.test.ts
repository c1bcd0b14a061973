import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { detailedHealth, http, samplePeaks } from '../support/http.js';
import { CLI_PATH, ServiceProcess } from '../support/service-process.js';
import { assertRefusedTooLarge, streamUpload } from '../support/upload.js';

/** Long enough that a request holds its slot for a visible while. */
const LONG_TEXT = 'Voice Stack keeps its promises under load, one sentence after another. '.repeat(25);

const speak = (base: string, input = LONG_TEXT) =>
  http(`${base}/v1/audio/speech`, {
    json: { model: 'tts-1', input, voice: 'alloy', response_format: 'mp3' },
  });

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

async function withServer(
  env: Record<string, string>,
  test: (server: ServiceProcess, base: string) => Promise<void>,
) {
  const server = await ServiceProcess.start(['serve', 'tts'], env);
  try {
    await test(server, server.url('tts'));
  } finally {
    await server.stop();
  }
}

async function residentBytes(base: string): Promise<number> {
  const text = (await http(`${base}/metrics`)).body.toString();
  const match = /^voice_stack_process_resident_memory_bytes\{[^}]*\} (\d+)/m.exec(text);
  assert.ok(match, 'resident memory metric');
  return Number(match[1]);
}

describe('TTS guard rails (real server, real engine)', () => {
  it('with 2 slots, 10 concurrent requests run exactly 2 at a time and all succeed', async () => {
    await withServer({ MAX_CONCURRENT_REQUESTS: '2', MAX_QUEUE_SIZE: '64' }, async (_server, base) => {
      const burst = Promise.all(Array.from({ length: 10 }, () => speak(base)));
      const sampled = await samplePeaks(base, burst);
      const statuses = sampled.result.map((r) => r.status);
      assert.deepEqual(statuses, Array(10).fill(200));
      const { peakActive, peakQueued } = sampled.peaks();
      assert.equal(peakActive, 2, 'peak active_requests');
      assert.ok(peakQueued >= 1, `requests waited in the queue (peak ${peakQueued})`);
      const after = await detailedHealth(base);
      assert.equal(after.concurrency.active_requests, 0);
      assert.equal(after.concurrency.queued, 0);
    });
  });

  it('with 1 slot and a queue of 1, a burst of 5 gets 503 Too many concurrent requests, then recovers', async () => {
    await withServer({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUE_SIZE: '1' }, async (_server, base) => {
      const responses = await Promise.all(Array.from({ length: 5 }, () => speak(base)));
      const refused = responses.filter((r) => r.status === 503);
      assert.ok(refused.length >= 1, `some refused: ${responses.map((r) => r.status)}`);
      assert.ok(
        responses.filter((r) => r.status === 200).length >= 2,
        'the running and the queued one succeed',
      );
      for (const response of refused) {
        assert.match(response.json<ErrorBody>().error.message, /^Too many concurrent requests/);
        assert.match(String(response.headers['retry-after']), /^\d+$/);
      }
      const after = await detailedHealth(base);
      assert.equal(after.concurrency.active_requests, 0);
      assert.equal(after.concurrency.queued, 0);
      assert.equal((await speak(base, 'Back to normal.')).status, 200);
      const metrics = (await http(`${base}/metrics`)).body.toString();
      assert.match(metrics, /voice_stack_rejections_total\{reason="queue_full",service="tts"\} [1-9]/);
    });
  });

  it('above MEMORY_THRESHOLD_PERCENT answers 503 naming memory and its percentage; health stays 200', async () => {
    await withServer({ MEMORY_THRESHOLD_PERCENT: '1' }, async (server, base) => {
      const response = await speak(base, 'Hello.');
      assert.equal(response.status, 503);
      assert.match(response.json<ErrorBody>().error.message, /^Resource threshold exceeded \(memory: \d+%\)/);
      assert.match(String(response.headers['retry-after']), /^\d+$/);
      assert.equal((await http(`${base}/health`)).status, 200);
      const detailed = await detailedHealth(base);
      assert.equal(detailed.status, 'overloaded');
      assert.equal(detailed.memory.threshold_percent, 1);
      assert.equal((await http(`${base}/metrics`)).status, 200);
      assert.ok(
        server.logs.some((l) => l.reason === 'resource_threshold'),
        'rejection logged with its reason',
      );
    });
  });

  it('refuses a 120 MB upload with 413 without reading it to its end or holding it', async () => {
    await withServer({}, async (server, base) => {
      assert.equal((await detailedHealth(base)).config.max_upload_mb, 1024, 'the default limit');
      await speak(base, 'warm up');
      const before = await residentBytes(base);
      const total = 120 * 1024 * 1024;
      for (const chunked of [false, true]) {
        const upload = () =>
          streamUpload(`${base}/v1/audio/speech`, total, { chunked, contentType: 'application/json' });
        await assertRefusedTooLarge(server, upload, { totalBytes: total, chunked });
      }
      const after = await residentBytes(base);
      assert.ok(
        after - before < 60 * 1024 * 1024,
        `RSS grew by ${((after - before) / 1048576).toFixed(1)} MB`,
      );
      assert.equal((await http(`${base}/health`)).status, 200);
    });
  });

  it('unloads the model after the idle timeout and loads it again on the next request', async () => {
    await withServer({ IDLE_TIMEOUT_MINUTES: '0.02' }, async (server, base) => {
      assert.equal(
        (await detailedHealth(base)).model.loaded,
        false,
        'lazy: nothing loaded before the first request',
      );
      assert.equal((await speak(base, 'Load it.')).status, 200);
      assert.equal((await detailedHealth(base)).model.loaded, true);
      await server.waitFor(
        () => server.logsWith('event', 'model_unloaded').length === 1,
        10_000,
        'idle unload',
      );
      const idle = await detailedHealth(base);
      assert.equal(idle.model.loaded, false);
      assert.notEqual(idle.model.last_used, null);
      assert.equal((await speak(base, 'Load it again.')).status, 200);
      assert.equal((await detailedHealth(base)).model.loaded, true);
      assert.equal(server.logsWith('event', 'model_loaded').length, 2);
      assert.equal(server.logsWith('reason', 'idle').length, 1);
    });
  });

  it('on SIGTERM during a burst completes every accepted request, then exits 0', async () => {
    await withServer({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUE_SIZE: '64' }, async (server, base) => {
      const burst = Promise.all(Array.from({ length: 6 }, () => speak(base)));
      const deadline = Date.now() + 10_000;
      // Every request accepted (one running, five queued) before SIGTERM: one still on its way
      // would arrive during the drain and rightly get a 503.
      const accepted = async () => {
        const { concurrency } = await detailedHealth(base);
        return concurrency.active_requests + concurrency.queued;
      };
      while ((await accepted()) < 6 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      server.child.kill('SIGTERM');
      const responses = await burst;
      assert.deepEqual(
        responses.map((r) => r.status),
        Array(6).fill(200),
      );
      assert.equal(await server.exited, 0);
      assert.ok(server.logsWith('event', 'shutdown_finished').some((l) => l.drained === true));
    });
  });

  it('refuses to start on a bad setting, naming the variable', () => {
    const result = spawnSync(process.execPath, [CLI_PATH, 'serve', 'tts'], {
      env: { PATH: process.env.PATH, MAX_CONCURRENT_REQUESTS: 'abc', VOICE_STACK_ENV_FILE: '/nonexistent' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /MAX_CONCURRENT_REQUESTS="abc": expected a number/);
  });
});
