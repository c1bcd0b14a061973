import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loopedSpeechWav, testWhisperModel } from '../support/fixtures.js';
import { detailedHealth, type HttpResult, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

interface ErrorBody {
  error: { message: string; code: string };
}

/** One `file` part, framed by hand so the test holds the exact bytes it sends. */
function multipartBody(data: Buffer): { body: Buffer; contentType: string } {
  const boundary = 'drainTestBoundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A fresh connection per probe: what a load balancer health check opens. */
function probe(url: string, init: { method?: 'GET' | 'POST'; json?: unknown } = {}): Promise<HttpResult> {
  return http(url, { ...init, headers: { connection: 'close' } });
}

async function waitUntil(what: string, predicate: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('drain on SIGTERM', () => {
  it('keeps serving during the notice: /ready 503 draining, /health 200, new work still 200', async () => {
    const server = await ServiceProcess.start(['serve', 'tts'], {
      DRAIN_NOTICE_SECONDS: '2',
      SHUTDOWN_GRACE_SECONDS: '10',
    });
    try {
      const base = server.url('tts');
      const sentAt = Date.now();
      server.child.kill('SIGTERM');
      await server.waitFor(() => server.logsWith('event', 'shutdown_started').length > 0, 5000, 'drain');
      const ready = await probe(`${base}/ready`);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.json(), { status: 'not_ready', reason: 'draining' });
      assert.equal((await probe(`${base}/health`)).status, 200);
      // A request a load balancer sent before its check saw /ready fail is served, not refused.
      const speech = await http(`${base}/v1/audio/speech`, { json: { input: 'Hello.' } });
      assert.equal(speech.status, 200);
      assert.ok(speech.body.length > 0, 'audio came back');
      assert.equal(speech.headers.connection, 'close', 'the next request opens a connection elsewhere');
      assert.equal(await server.exited, 0);
      assert.equal(server.logsWith('event', 'drain_notice_over').length, 1);
      const exitedAfter = (Date.now() - sentAt) / 1000;
      console.log(`notice 2 s: exited ${exitedAfter.toFixed(2)} s after SIGTERM`);
      assert.ok(exitedAfter >= 1.9, 'the listener stayed for the notice');
    } finally {
      await server.stop();
    }
  });

  it('with a grace shorter than the work, answers queued and running requests 503 + Retry-After', async () => {
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      MAX_CONCURRENT_REQUESTS: '1',
      MAX_QUEUE_SIZE: '16',
      SHUTDOWN_GRACE_SECONDS: '2',
      DRAIN_NOTICE_SECONDS: '0.5',
    });
    try {
      const base = server.url('asr');
      const url = `${base}/v1/audio/transcriptions`;
      const upload = (seconds: number) => {
        const { body, contentType } = multipartBody(readFileSync(loopedSpeechWav(seconds)));
        const at = { done: 0 };
        const response = http(url, { body, headers: { 'content-type': contentType } }).then((r) => {
          at.done = Date.now();
          return r;
        });
        return { response, at };
      };
      assert.equal((await upload(5).response).status, 200, 'warm-up loads the model');
      const long = upload(600);
      await waitUntil(
        'the long one to run',
        async () => (await detailedHealth(base)).concurrency.active_requests === 1,
      );
      const queued = Array.from({ length: 4 }, () => upload(5));
      await waitUntil('four queued', async () => (await detailedHealth(base)).concurrency.queued === 4);
      const sentAt = Date.now();
      server.child.kill('SIGTERM');
      const answers = await Promise.all(queued.map((q) => q.response));
      for (const answer of answers) {
        assert.equal(answer.status, 503);
        assert.match(String(answer.headers['retry-after']), /^\d+$/);
        assert.equal(answer.json<ErrorBody>().error.code, 'VS_ERR_SHUTTING_DOWN');
      }
      const queuedAfter = Math.max(...queued.map((q) => q.at.done)) - sentAt;
      const running = await long.response;
      const runningAfter = long.at.done - sentAt;
      console.log(
        `grace 2 s: 4 queued answered 503 within ${queuedAfter} ms; running one ${running.status} after ${runningAfter} ms`,
      );
      assert.ok(
        queuedAfter < 1000,
        'queued requests are answered when the 0.5 s notice ends, not at the grace',
      );
      assert.equal(running.status, 503, 'the running one is answered before its socket is cut');
      assert.match(String(running.headers['retry-after']), /^\d+$/);
      assert.ok(
        runningAfter >= 1900 && runningAfter < 4000,
        `answered at the end of the grace (${runningAfter} ms)`,
      );
      assert.equal(await server.exited, 1, 'exit 1: the grace period forced it');
      const exitedAfter = Date.now() - sentAt;
      console.log(`grace 2 s: exited ${exitedAfter} ms after SIGTERM`);
      assert.ok(exitedAfter < 5000, 'the running inference is stopped, not waited for');
    } finally {
      await server.stop();
    }
  });
});
