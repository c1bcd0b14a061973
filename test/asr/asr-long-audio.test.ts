import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { loopedSpeechWav, testWhisperModel } from '../support/fixtures.js';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const MINUTES = 30;
const DECODED_BYTES = MINUTES * 60 * 16000 * 4;

async function residentBytes(base: string): Promise<number> {
  const text = (await http(`${base}/metrics`)).body.toString();
  return Number(/^voice_stack_process_resident_memory_bytes\{[^}]*\} (\d+)/m.exec(text)?.[1]);
}

describe('ASR on a 30-minute file (real server, real binding)', () => {
  it('transcribes it whole while holding no more than a small multiple of the decoded audio', async () => {
    const server = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: await testWhisperModel() });
    try {
      const base = server.url('asr');
      const file = readFileSync(loopedSpeechWav(MINUTES * 60));
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(file)]), 'long.wav');
      form.append('response_format', 'verbose_json');
      form.append('language', 'en');
      const before = await residentBytes(base);
      let peak = before;
      let done = false;
      const sampler = (async () => {
        while (!done) {
          peak = Math.max(peak, await residentBytes(base));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const response = await request(`${base}/v1/audio/transcriptions`, { method: 'POST', body: form });
      const body = (await response.body.json()) as { duration: number; segments: { end: number }[] };
      done = true;
      await sampler;
      assert.equal(response.statusCode, 200);
      assert.ok(Math.abs(body.duration - MINUTES * 60) < 1, `duration ${body.duration}`);
      const lastEnd = body.segments.at(-1)?.end ?? 0;
      assert.ok(
        lastEnd > MINUTES * 60 - 60,
        `segments reach the end of the audio (last ends at ${lastEnd}s)`,
      );
      const grewBy = peak - before;
      console.log(
        `30 min: decoded ${(DECODED_BYTES / 1048576).toFixed(0)} MB, RSS grew by ${(grewBy / 1048576).toFixed(0)} MB at peak (${(grewBy / DECODED_BYTES).toFixed(2)}x)`,
      );
      assert.ok(grewBy < 4 * DECODED_BYTES, `RSS grew by ${(grewBy / 1048576).toFixed(0)} MB`);
    } finally {
      await server.stop();
    }
  });
});
