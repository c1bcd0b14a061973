import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { generateSileroVadModel } from '../../tools/gen-whisper-model.js';
import { FIXTURE_DIR, loopedSpeechWav, testWhisperModel } from '../support/fixtures.js';
import { detailedHealth } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

/** Two minutes of speech with pauses: four whisper windows, long enough to cancel mid-way. */
function longSpeech(): Buffer {
  return readFileSync(loopedSpeechWav(120));
}

function upload(url: string, data: Buffer, signal?: AbortSignal) {
  const form = new FormData();
  form.append('audio_file', new Blob([new Uint8Array(data)]), 'long.wav');
  return request(url, { method: 'POST', body: form, ...(signal ? { signal } : {}) });
}

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await predicate())) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - started;
}

describe('ASR cancellation and VAD (real server, real binding)', () => {
  let server: ServiceProcess;
  let base: string;
  const audio = longSpeech();
  before(async () => {
    const vadModel = join(FIXTURE_DIR, 'ggml-silero-random.bin');
    if (!existsSync(vadModel)) await generateSileroVadModel({ outPath: vadModel, seed: 3 });
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      ASR_VAD_MODEL: vadModel,
      MAX_CONCURRENT_REQUESTS: '1',
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('a client that disconnects mid-transcription stops the engine and frees its slot', async () => {
    const started = performance.now();
    const full = await upload(`${base}/asr?output=json&language=en`, audio);
    assert.equal(full.statusCode, 200);
    await full.body.text();
    const fullMs = performance.now() - started;

    const controller = new AbortController();
    const pending = upload(`${base}/asr?output=json&language=en`, audio, controller.signal).catch(
      (e: unknown) => e,
    );
    await waitUntil(async () => (await detailedHealth(base)).concurrency.active_requests === 1, 10_000);
    await new Promise((r) => setTimeout(r, fullMs / 8));
    controller.abort();
    const freedMs = await waitUntil(
      async () => (await detailedHealth(base)).concurrency.active_requests === 0,
      10_000,
    );
    assert.ok(await pending, 'the client saw its request aborted');
    console.log(
      `full transcription ${fullMs.toFixed(0)} ms; slot free ${freedMs.toFixed(0)} ms after the disconnect`,
    );
    assert.ok(
      freedMs < fullMs / 2,
      `slot freed after ${freedMs.toFixed(0)} ms, the whole job takes ${fullMs.toFixed(0)} ms`,
    );
    const next = await upload(`${base}/asr?output=txt&language=en`, audio.subarray(0, 16000 * 2 * 3 + 44));
    assert.equal(next.statusCode, 200, 'the service keeps working');
    await next.body.text();
  });

  it('vad_filter runs Silero VAD before decoding', async () => {
    const response = await upload(
      `${base}/asr?output=json&language=en&vad_filter=true`,
      audio.subarray(0, 16000 * 2 * 20 + 44),
    );
    assert.equal(response.statusCode, 200);
    const body = (await response.body.json()) as { segments: { start: number; end: number }[] };
    for (const segment of body.segments)
      assert.ok(segment.end <= 20.5, 'segments map back to the original timeline');
    assert.ok(
      !server.logs.some((l) => l.event === 'asr_vad_unavailable' || l.event === 'asr_vad_skipped'),
      'VAD model loaded and used',
    );
  });
});
