/**
 * The contract every neural TTS engine passes, run against the real server, the
 * real runtime and the real espeak-ng, on generated models with random weights.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { probeAudio } from '../support/ffmpeg-probe.js';
import { detailedHealth, http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';
import { kokoroTestEnv, piperTestEnv } from '../support/tts-models.js';

const ONE = 'The quick brown fox jumps over the lazy dog.';
const THREE = `${ONE} Voice Stack speaks through a neural voice today. It read 42 pages on May 3rd, 1999.`;

interface EngineCase {
  readonly engine: string;
  readonly env: () => Promise<Record<string, string>>;
  readonly defaultVoice: string;
  readonly uncachedVoice: string;
  readonly pullCommand: string;
  readonly sampleRate: number;
}

const CASES: EngineCase[] = [
  {
    engine: 'piper',
    env: () => piperTestEnv(),
    defaultVoice: 'en_US-test-medium',
    uncachedVoice: 'en_US-amy-medium',
    pullCommand: 'voice-stack models pull en_US-amy-medium',
    sampleRate: 22050,
  },
  {
    engine: 'kokoro',
    env: () => kokoroTestEnv(),
    defaultVoice: 'af_heart',
    uncachedVoice: 'am_adam',
    pullCommand: 'voice-stack models pull kokoro-am_adam',
    sampleRate: 24000,
  },
];

interface ErrorBody {
  error: { message: string; code: string };
}

for (const c of CASES) {
  describe(`TTS engine contract: ${c.engine} (generated model, real runtime)`, () => {
    let server: ServiceProcess;
    let base: string;
    before(async () => {
      server = await ServiceProcess.start(['serve', 'tts'], await c.env());
      base = server.url('tts');
    });
    after(() => server.stop());

    const speak = (body: Record<string, unknown>) =>
      http(`${base}/v1/audio/speech`, { json: { model: 'tts-1', input: ONE, voice: 'alloy', ...body } });
    const duration = async (body: Record<string, unknown>) => {
      const response = await speak({ response_format: 'wav', ...body });
      assert.equal(response.status, 200, response.body.toString().slice(0, 300));
      return (await probeAudio(response.body)).durationSeconds;
    };

    it('answers with a WAV at the voice rate, and longer text gives longer audio', async () => {
      const response = await speak({ response_format: 'wav' });
      assert.equal(response.status, 200);
      assert.equal(response.body.readUInt32LE(24), c.sampleRate);
      const one = (await probeAudio(response.body)).durationSeconds;
      const three = await duration({ input: THREE });
      assert.ok(one > 0.5, `one sentence: ${one}s`);
      assert.ok(three > one * 2, `three sentences ${three}s vs one ${one}s`);
    });

    it('speed changes the duration (faster is shorter), keeping the sample rate', async () => {
      const normal = await duration({});
      const fast = await duration({ speed: 2 });
      const slow = await duration({ speed: 0.5 });
      const fastest = await duration({ speed: 4 });
      assert.ok(fast < normal * 0.6, `2x: ${fast}s vs ${normal}s`);
      assert.ok(slow > normal * 1.6, `0.5x: ${slow}s vs ${normal}s`);
      assert.ok(fastest < fast, `4x: ${fastest}s vs 2x ${fast}s`);
    });

    it('encodes every format so that it decodes back to about the same duration', async () => {
      const reference = await duration({});
      const types: Record<string, string> = {
        mp3: 'audio/mpeg',
        opus: 'audio/ogg',
        aac: 'audio/aac',
        flac: 'audio/flac',
        pcm: 'audio/pcm',
      };
      for (const [format, type] of Object.entries(types)) {
        const response = await speak({ response_format: format });
        assert.equal(response.status, 200, `${format}: ${response.body.toString().slice(0, 200)}`);
        assert.ok(String(response.headers['content-type']).startsWith(type), `${format} content type`);
        const rate = Number(response.headers['x-sample-rate']);
        // OpenAI defines pcm as 24 kHz whatever the voice's own rate; the rest keep the voice's.
        assert.equal(rate, format === 'pcm' ? 24000 : c.sampleRate);
        const decoded = await probeAudio(response.body, format === 'pcm' ? { sampleRate: rate } : undefined);
        assert.ok(
          Math.abs(decoded.durationSeconds - reference) < 0.15,
          `${format}: ${decoded.durationSeconds}s vs wav ${reference}s`,
        );
        assert.ok(decoded.rms > 0.01, `${format} is not silence`);
      }
    });

    it('streams every format (stream_format=audio) as one file that decodes to the right duration', async () => {
      for (const speed of [1, 4]) {
        const reference = await duration({ input: THREE, speed });
        for (const format of ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm']) {
          const response = await speak({
            input: THREE,
            speed,
            response_format: format,
            stream_format: 'audio',
          });
          assert.equal(response.status, 200, `${format}: ${response.body.toString().slice(0, 200)}`);
          assert.equal(response.headers['transfer-encoding'], 'chunked', `${format} is streamed`);
          const rate = Number(response.headers['x-sample-rate']);
          const decoded = await probeAudio(
            response.body,
            format === 'pcm' ? { sampleRate: rate } : undefined,
          );
          assert.ok(
            Math.abs(decoded.durationSeconds - reference) < 0.2,
            `${format} at ${speed}x: ${decoded.durationSeconds}s vs ${reference}s`,
          );
        }
      }
    });

    it('maps OpenAI voices to the default, refuses unknown voices (400) and names missing downloads (503)', async () => {
      const alias = await duration({ voice: 'nova' });
      const named = await duration({ voice: c.defaultVoice });
      assert.equal(alias, named, 'nova speaks with the default voice');
      const unknown = await speak({ voice: 'no-such-voice' });
      assert.equal(unknown.status, 400);
      assert.match(unknown.json<ErrorBody>().error.message, /'voice'/);
      const missing = await speak({ voice: c.uncachedVoice });
      assert.equal(missing.status, 503);
      const message = missing.json<ErrorBody>().error.message;
      assert.ok(message.includes(c.uncachedVoice), message);
      assert.ok(message.includes(c.pullCommand), message);
    });

    it('lists the voices of the engine with language and whether each is cached', async () => {
      const list = (await http(`${base}/v1/audio/voices`)).json<{
        engine: string;
        default_voice: string;
        voices: { id: string; language: string; cached: boolean }[];
      }>();
      assert.equal(list.engine, c.engine);
      assert.equal(list.default_voice, c.defaultVoice);
      const byId = new Map(list.voices.map((v) => [v.id, v]));
      assert.equal(byId.get(c.defaultVoice)?.cached, true);
      assert.equal(byId.get(c.uncachedVoice)?.cached, false);
      assert.ok(list.voices.every((v) => v.language.length >= 2));
    });

    it('streams server-sent events whose audio is the same PCM as the plain response', async () => {
      const plain = await speak({ response_format: 'pcm', input: THREE, stream_format: 'audio' });
      const sse = await speak({ response_format: 'pcm', input: THREE, stream_format: 'sse' });
      assert.equal(sse.status, 200);
      assert.match(String(sse.headers['content-type']), /^text\/event-stream/);
      const events = sse.body
        .toString()
        .split('\n\n')
        .filter((e) => e.startsWith('data: '))
        .map((e) => JSON.parse(e.slice(6)) as { type: string; audio?: string });
      assert.equal(events.at(-1)?.type, 'speech.audio.done');
      const deltas = events.filter((e) => e.type === 'speech.audio.delta');
      assert.ok(deltas.length >= 3, `one delta per sentence at least (${deltas.length})`);
      const audio = Buffer.concat(deltas.map((e) => Buffer.from(e.audio ?? '', 'base64')));
      assert.equal(audio.length, plain.body.length);
    });

    it('reports the loaded model in /health/detailed', async () => {
      const health = await detailedHealth(base);
      assert.equal(health.model.loaded, true);
      assert.equal(health.model.engine, c.engine);
      assert.equal(health.model.device, 'cpu');
      assert.ok(health.model.model_name.length > 0);
    });
  });
}
