import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type DetailedHealth, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const LONG_TEXT = 'This sentence keeps the only slot busy for a while. '.repeat(75);

async function settled(base: string): Promise<DetailedHealth['concurrency']> {
  for (let i = 0; i < 100; i += 1) {
    const health = (await http(`${base}/health/detailed`)).json<DetailedHealth>();
    if (health.concurrency.active_requests === 0 && health.concurrency.queued === 0)
      return health.concurrency;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return (await http(`${base}/health/detailed`)).json<DetailedHealth>().concurrency;
}

/** Sends a speech request and drops the connection after `ms`, without reading a byte. */
async function abortedSpeech(base: string, body: Record<string, unknown>, ms: number): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const response = await request(`${base}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    await response.body.arrayBuffer();
  } catch {
    // The abort is the point.
  } finally {
    clearTimeout(timer);
  }
}

describe('TTS under hostile requests (real server, espeak-ng)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'tts'], {
      TTS_MAX_CONCURRENT_REQUESTS: '1',
      QUEUE_TIMEOUT_SECONDS: '0.4',
      MAX_SPEECH_SECONDS: '600',
    });
    base = server.url('tts');
  });
  after(() => server.stop());

  const speak = (body: Record<string, unknown>) =>
    http(`${base}/v1/audio/speech`, { json: { model: 'tts-1', input: 'Hi', ...body } });

  it('refuses every non-finite speed with 400 naming speed, in every format and stream mode', async () => {
    const speeds: unknown[] = ['Infinity', '-Infinity', '1e400', 'NaN', null, '', 'fast'];
    const shapes = [
      { response_format: 'mp3' },
      { response_format: 'opus' },
      { response_format: 'pcm' },
      { response_format: 'wav' },
      { stream_format: 'sse' },
    ];
    for (const speed of speeds) {
      for (const shape of shapes) {
        const response = await speak({ ...shape, speed });
        assert.equal(response.status, 400, `${JSON.stringify(speed)} ${JSON.stringify(shape)}`);
        assert.equal(response.json<{ error: { param: string } }>().error.param, 'speed');
      }
    }
    // A bare 1e400 in the JSON text parses to Infinity before any schema sees it.
    const raw = await http(`${base}/v1/audio/speech`, {
      body: '{"input":"Hi","speed":1e400}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(raw.status, 400);
    assert.equal((await http(`${base}/health`)).status, 200, 'the process is still up');
  });

  it('survives streamed requests dropped while queued and queue timeouts, and frees everything', async () => {
    const busy = speak({ input: LONG_TEXT, response_format: 'flac', speed: 0.5 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const drops = [];
    for (const shape of [
      { response_format: 'mp3' },
      { response_format: 'opus' },
      { response_format: 'pcm' },
      { stream_format: 'sse' },
    ]) {
      for (let i = 0; i < 5; i += 1)
        drops.push(abortedSpeech(base, { input: 'Hello there.', ...shape }, 150));
    }
    const timedOut = speak({ input: 'Hello there.', response_format: 'mp3' });
    await Promise.all(drops);
    const timeout = await timedOut;
    assert.equal(timeout.status, 503, 'a streamed request that waited too long gets the queue-timeout 503');
    assert.match(timeout.body.toString(), /Timed out waiting for a free slot/);
    assert.equal((await busy).status, 200);
    assert.equal(server.exitCode, null, `the server died: ${server.stderr.slice(-500)}`);
    assert.doesNotMatch(server.stderr, /Unhandled 'error' event/);
    const concurrency = await settled(base);
    assert.equal(concurrency.active_requests, 0);
    assert.equal(concurrency.queued, 0);
    assert.equal((await speak({ response_format: 'pcm' })).status, 200, 'and it still speaks');
  });

  it('bounds the audio one request may produce (MAX_SPEECH_SECONDS)', async () => {
    const response = await speak({ input: 'ア'.repeat(3000), response_format: 'wav' });
    assert.equal(response.status, 400);
    assert.match(
      response.json<{ error: { message: string } }>().error.message,
      /MAX_SPEECH_SECONDS \(600 s\)/,
    );
    assert.equal((await speak({ input: 'A short one.', response_format: 'wav' })).status, 200);
  });
});
