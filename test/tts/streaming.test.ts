/**
 * Streaming, disconnects and memory on a Piper voice the size of a real medium one
 * (random weights, ~50 MB), through the real server. Timings are compared with each
 * other in the same run, never with absolute numbers: the host is small and shared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detailedHealth, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';
import { readFirstChunkThenDisconnect, type TimedResponse, timedPost } from '../support/timed-stream.js';
import { piperTestEnv } from '../support/tts-models.js';

/** Three sentences of about the same length, each long enough that synthesis outweighs fixed costs. */
const SENTENCES = [
  'The first sentence of this test is long enough to take a visible while to synthesise on its own, because it goes on and on about nothing in particular for quite some time.',
  'A second sentence follows it, with different words and about the same length as the one before, so that every sentence costs the engine roughly the same amount of work.',
  'The third and last sentence closes the paragraph, so that the whole text takes about three times as long to speak as any one of its sentences does when it stands alone.',
];

async function withPiper(
  env: Record<string, string>,
  test: (server: ServiceProcess, base: string) => Promise<void>,
) {
  const server = await ServiceProcess.start(['serve', 'tts'], { ...(await piperTestEnv('bench')), ...env });
  try {
    await test(server, server.url('tts'));
  } finally {
    await server.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function medianOf(
  times: number,
  run: () => Promise<TimedResponse>,
  pick: (r: TimedResponse) => number,
) {
  const values: number[] = [];
  for (let i = 0; i < times; i++) {
    const response = await run();
    assert.equal(response.status, 200);
    values.push(pick(response));
  }
  return median(values);
}

async function metric(base: string, name: string): Promise<number> {
  const text = (await http(`${base}/metrics`)).body.toString();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text);
  assert.ok(match, `metric ${name}`);
  return Number(match[1]);
}

describe('TTS streaming, disconnects and memory (Piper, real runtime)', () => {
  it('streams sentence by sentence: the first byte comes after about one sentence, not three', async () => {
    await withPiper({ MAX_CONCURRENT_REQUESTS: '1' }, async (_server, base) => {
      const url = `${base}/v1/audio/speech`;
      const speak = (input: string, extra: Record<string, unknown>) => () =>
        timedPost(url, { input, ...extra });
      await speak(SENTENCES[0] as string, { response_format: 'wav' })();
      const one = await medianOf(
        3,
        speak(SENTENCES[0] as string, { response_format: 'wav' }),
        (r) => r.totalMs,
      );
      const whole = await medianOf(
        3,
        speak(SENTENCES.join(' '), { response_format: 'wav' }),
        (r) => r.firstByteMs,
      );
      const streamed = await timedPost(url, { input: SENTENCES.join(' '), response_format: 'pcm' });
      const firstByte = await medianOf(
        3,
        speak(SENTENCES.join(' '), { response_format: 'pcm' }),
        (r) => r.firstByteMs,
      );
      console.log(
        `one sentence ${one.toFixed(0)} ms; three: first byte ${whole.toFixed(0)} ms whole, ${firstByte.toFixed(0)} ms streamed`,
      );
      assert.equal(streamed.headers['transfer-encoding'], 'chunked');
      assert.ok(streamed.chunks >= 3, `audio arrived in ${streamed.chunks} pieces`);
      assert.ok(
        whole > one * 1.5,
        `unstreamed: first byte after all three sentences (${whole} vs one ${one} ms)`,
      );
      assert.ok(
        firstByte < (one + whole) / 2,
        `streamed first byte ${firstByte} ms is nearer one sentence (${one} ms) than three (${whole} ms)`,
      );
    });
  });

  it('a client that disconnects stops synthesis and frees its slot at once', async () => {
    await withPiper({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUE_SIZE: '4' }, async (_server, base) => {
      const url = `${base}/v1/audio/speech`;
      const input = Array.from({ length: 4 }, () => SENTENCES.join(' ')).join(' ');
      const full = await timedPost(url, { input, response_format: 'wav' });
      assert.equal(full.status, 200);
      const startedAt = performance.now();
      const received = await readFirstChunkThenDisconnect(url, { input, response_format: 'pcm' });
      assert.ok(received > 0, 'some audio arrived before the disconnect');
      while ((await detailedHealth(base)).concurrency.active_requests > 0) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const freedAfter = performance.now() - startedAt;
      console.log(
        `disconnect: slot free after ${freedAfter.toFixed(0)} ms; the whole request takes ${full.totalMs.toFixed(0)} ms`,
      );
      assert.ok(
        freedAfter < full.totalMs / 2,
        `slot free after ${freedAfter} ms; the whole takes ${full.totalMs} ms`,
      );
      const audioSeconds = await metric(base, 'voice_stack_audio_seconds_total');
      await new Promise((r) => setTimeout(r, Math.min(1000, full.totalMs / 2)));
      assert.equal(
        await metric(base, 'voice_stack_audio_seconds_total'),
        audioSeconds,
        'no synthesis after the disconnect',
      );
      const next = await timedPost(url, { input: 'Next.', response_format: 'wav' });
      assert.equal(next.status, 200, 'the freed slot serves the next request');
    });
  });

  it('unloading an idle voice frees its memory: resident memory drops measurably', async () => {
    await withPiper({ IDLE_TIMEOUT_MINUTES: '0.02', MAX_CONCURRENT_REQUESTS: '2' }, async (server, base) => {
      const rss = () => metric(base, 'voice_stack_process_resident_memory_bytes');
      const idle = await rss();
      const response = await timedPost(`${base}/v1/audio/speech`, {
        input: SENTENCES[0],
        response_format: 'wav',
      });
      assert.equal(response.status, 200);
      const loaded = await rss();
      await server.waitFor(
        () => server.logsWith('event', 'model_unloaded').length === 1,
        15_000,
        'idle unload',
      );
      await new Promise((r) => setTimeout(r, 300));
      const unloaded = await rss();
      const mb = (bytes: number) => (bytes / 1048576).toFixed(0);
      console.log(
        `RSS before load ${mb(idle)} MB, loaded ${mb(loaded)} MB, after idle unload ${mb(unloaded)} MB`,
      );
      assert.ok(
        loaded - idle > 60 * 1048576,
        `loading two sessions of a 50 MB voice grew RSS by ${mb(loaded - idle)} MB`,
      );
      assert.ok(loaded - unloaded > 50 * 1048576, `unloading gave back ${mb(loaded - unloaded)} MB`);
      assert.equal((await detailedHealth(base)).model.loaded, false);
    });
  });
});
