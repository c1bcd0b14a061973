import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPENAI_VOICES } from '../../src/tts/openai-voices.js';
import { probeAudio } from '../support/ffmpeg-probe.js';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

/** The dominant frequency of s16le samples, by a plain DFT over a band. */
function dominantHz(samples: Int16Array, rate: number, fromHz: number, toHz: number): number {
  const n = Math.min(samples.length, rate);
  let best = 0;
  let bestPower = -1;
  for (let hz = fromHz; hz <= toHz; hz += 5) {
    let re = 0;
    let im = 0;
    for (let i = 0; i < n; i += 1) {
      const phase = (2 * Math.PI * hz * i) / rate;
      re += (samples[i] as number) * Math.cos(phase);
      im += (samples[i] as number) * Math.sin(phase);
    }
    const power = re * re + im * im;
    if (power > bestPower) {
      bestPower = power;
      best = hz;
    }
  }
  return best;
}

function pitchOf(body: Buffer, rate: number): number {
  const samples = new Int16Array(body.buffer, body.byteOffset, body.length >> 1);
  return dominantHz(samples, rate, 60, 400);
}

describe('TTS for OpenAI clients: voice names and 24 kHz pcm (real server, espeak-ng)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'tts']);
    base = server.url('tts');
  });
  after(() => server.stop());

  const speak = (body: Record<string, unknown>) =>
    http(`${base}/v1/audio/speech`, { json: { input: 'Hello from the test.', ...body } });

  it("answers the load-test guide's exact request with audio", async () => {
    const response = await http(`${base}/v1/audio/speech`, {
      json: {
        model: 'tts-1',
        input: 'This is a load test for the text to speech service.',
        voice: 'default',
      },
    });
    assert.equal(response.status, 200, response.body.toString().slice(0, 200));
    assert.equal(response.headers['content-type'], 'audio/mpeg');
    assert.ok(response.body.length > 2000);
  });

  it('speaks every OpenAI voice name and the {"id"} shape, on distinct espeak-ng variants', async () => {
    const listing = (await http(`${base}/v1/audio/voices`)).json<{
      openai_voice_aliases: Record<string, string>;
    }>();
    const mapped = OPENAI_VOICES.map((name) => listing.openai_voice_aliases[name]);
    assert.ok(mapped.every((voice) => typeof voice === 'string'));
    assert.equal(new Set(mapped).size, OPENAI_VOICES.length, 'each OpenAI name has its own voice');
    for (const voice of ['marin', 'cedar', 'verse', 'NOVA', { id: 'onyx' }, { id: 'en-us' }]) {
      const response = await speak({ voice, response_format: 'wav' });
      assert.equal(
        response.status,
        200,
        `${JSON.stringify(voice)}: ${response.body.toString().slice(0, 200)}`,
      );
    }
    const unknown = await speak({ voice: 'no-such-voice' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json<{ error: { param: string } }>().error.param, 'voice');
  });

  it('sends pcm at 24 kHz, whole and streamed, with the pitch unchanged', async () => {
    const wav = await speak({ response_format: 'wav', voice: 'default' });
    const wavRate = wav.body.readUInt32LE(24);
    const wavPcm = wav.body.subarray(44);
    for (const stream_format of [undefined, 'audio']) {
      const pcm = await speak({
        response_format: 'pcm',
        voice: 'default',
        ...(stream_format ? { stream_format } : {}),
      });
      assert.equal(pcm.status, 200);
      assert.equal(pcm.headers['x-sample-rate'], '24000');
      const ratio = pcm.body.length / wavPcm.length;
      assert.ok(Math.abs(ratio - 24000 / wavRate) < 0.02, `length ratio ${ratio}`);
      // Played at 24 kHz, the voice's pitch is the one the engine made at its own rate.
      const engineHz = pitchOf(wavPcm, wavRate);
      const pcmHz = pitchOf(pcm.body, 24000);
      assert.ok(Math.abs(pcmHz - engineHz) <= 10, `pitch ${pcmHz} Hz against ${engineHz} Hz`);
    }
  });

  it('ends a streamed SSE response with speech.audio.done carrying usage, as the SDKs read it', async () => {
    const input = 'First sentence here. And a second one follows it.';
    const response = await speak({ input, response_format: 'pcm', stream_format: 'sse' });
    assert.equal(response.status, 200, response.body.toString().slice(0, 200));
    assert.match(String(response.headers['content-type']), /^text\/event-stream/);
    const events = response.body
      .toString('utf8')
      .split('\n\n')
      .filter((block) => block.startsWith('data: '))
      .map((block) => JSON.parse(block.slice(6)) as { type: string; audio?: string; usage?: Usage });
    const done = events.at(-1);
    assert.equal(done?.type, 'speech.audio.done');
    assert.equal(events.filter((e) => e.type === 'speech.audio.done').length, 1, 'one done event, last');
    const pcmBytes = events.reduce((n, e) => n + Buffer.from(e.audio ?? '', 'base64').length, 0);
    const seconds = pcmBytes / 2 / 24000;
    const usage = done?.usage;
    assert.ok(usage, 'done carries usage');
    assert.equal(usage.input_tokens, 11, 'nine words and two full stops');
    // 20 ms frames of what was streamed, give or take a frame per chunk.
    assert.ok(Math.abs(usage.output_tokens - seconds * 50) <= 3, `${usage.output_tokens} for ${seconds}s`);
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  });

  it('writes the total sample count into a whole FLAC so players show its duration', async () => {
    for (const speed of [1, 1.5]) {
      const response = await speak({ response_format: 'flac', speed });
      assert.equal(response.status, 200);
      const flac = response.body;
      assert.equal(flac.toString('latin1', 0, 4), 'fLaC');
      // STREAMINFO: 20 bits rate, 3 channels-1, 5 bps-1, 36 total samples, from byte 18.
      const rate = (flac.readUInt32BE(18) >>> 12) & 0xfffff;
      const total = ((flac[21] as number) & 0x0f) * 2 ** 32 + flac.readUInt32BE(22);
      assert.ok(total > 0, 'total samples set');
      const decoded = await probeAudio(flac);
      assert.ok(
        Math.abs(total / rate - decoded.durationSeconds) < 0.01,
        `speed ${speed}: STREAMINFO says ${total / rate}s, decoder found ${decoded.durationSeconds}s`,
      );
    }
  });
});

interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}
