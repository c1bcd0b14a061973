import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { probeAudio } from '../support/ffmpeg-probe.js';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const SENTENCE = 'The quick brown fox jumps over the lazy dog. Voice Stack speaks through espeak.';

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

describe('TTS speech API on espeak-ng (real server, real engine)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'tts']);
    base = server.url('tts');
  });
  after(() => server.stop());

  const speak = (body: Record<string, unknown>) =>
    http(`${base}/v1/audio/speech`, { json: { model: 'tts-1', input: SENTENCE, voice: 'alloy', ...body } });

  it('returns a WAV whose header says what it is and whose samples are speech, not silence', async () => {
    const response = await speak({ response_format: 'wav' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'audio/wav');
    const wav = response.body;
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.toString('ascii', 8, 12), 'WAVE');
    assert.equal(wav.readUInt16LE(20), 1, 'PCM');
    assert.equal(wav.readUInt16LE(22), 1, 'mono');
    const sampleRate = wav.readUInt32LE(24);
    assert.equal(sampleRate, 22050);
    assert.equal(wav.readUInt16LE(34), 16, 'bits per sample');
    assert.equal(wav.readUInt32LE(40), wav.length - 44, 'data size matches the body');
    const samples = new Int16Array(wav.buffer, wav.byteOffset + 44, (wav.length - 44) / 2);
    const seconds = samples.length / sampleRate;
    assert.ok(seconds > 2 && seconds < 15, `duration ${seconds}s`);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s));
    assert.ok(peak > 3000, `peak ${peak} should be far from silence`);
  });

  it("returns espeak-ng's own 16-bit samples in a WAV, unchanged (pieces converted as they arrive)", async () => {
    const response = await speak({ response_format: 'wav', voice: 'en-us' });
    assert.equal(response.status, 200);
    const direct = execFileSync('espeak-ng', ['--stdout', '--stdin', '-b', '1', '-v', 'en-us', '-s', '175'], {
      input: SENTENCE,
    });
    assert.equal(direct.toString('ascii', 36, 40), 'data', "espeak-ng's header is the plain 44 bytes");
    assert.equal(response.body.readUInt32LE(40), direct.length - 44);
    assert.ok(response.body.subarray(44).equals(direct.subarray(44)), 'samples differ from espeak-ng');
  });

  it('encodes every format so that it decodes back to about the same duration', async () => {
    const reference = await probeAudio((await speak({ response_format: 'wav' })).body);
    const expected: Record<string, string> = {
      mp3: 'audio/mpeg',
      opus: 'audio/ogg',
      aac: 'audio/aac',
      flac: 'audio/flac',
      pcm: 'audio/pcm',
    };
    for (const [format, contentType] of Object.entries(expected)) {
      const response = await speak({ response_format: format });
      assert.equal(response.status, 200, `${format}: ${response.body.toString().slice(0, 200)}`);
      assert.ok(String(response.headers['content-type']).startsWith(contentType), `${format} content type`);
      const rate = Number(response.headers['x-sample-rate']);
      const decoded = await probeAudio(response.body, format === 'pcm' ? { sampleRate: rate } : undefined);
      assert.ok(
        Math.abs(decoded.durationSeconds - reference.durationSeconds) < 0.15,
        `${format}: ${decoded.durationSeconds}s vs wav ${reference.durationSeconds}s`,
      );
      assert.ok(decoded.rms > 0.01, `${format} is not silence (rms ${decoded.rms})`);
    }
  });

  it('speed changes the duration, within 0.25–4', async () => {
    const normal = await probeAudio((await speak({ response_format: 'wav' })).body);
    const fast = await probeAudio((await speak({ response_format: 'wav', speed: 2 })).body);
    const fastest = await probeAudio((await speak({ response_format: 'wav', speed: 4 })).body);
    const slowest = await probeAudio((await speak({ response_format: 'wav', speed: 0.25 })).body);
    assert.ok(fast.durationSeconds < normal.durationSeconds * 0.7, `2x: ${fast.durationSeconds}`);
    assert.ok(fastest.durationSeconds < fast.durationSeconds, `4x: ${fastest.durationSeconds}`);
    assert.ok(slowest.durationSeconds > normal.durationSeconds * 2, `0.25x: ${slowest.durationSeconds}`);
  });

  it('speaks other espeak-ng voices and variants', async () => {
    for (const voice of ['de', 'en-gb', 'en-us+f3']) {
      const response = await speak({ voice, response_format: 'wav' });
      assert.equal(response.status, 200, voice);
    }
  });

  it('answers bad parameters with 400 naming the parameter, in the OpenAI error shape', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ input: '' }, 'input'],
      [{ input: '   ' }, 'input'],
      [{ input: 'x'.repeat(4097) }, 'input'],
      [{ voice: 'klingon' }, 'voice'],
      [{ response_format: 'ogg-vorbis' }, 'response_format'],
      [{ speed: 4.5 }, 'speed'],
      [{ speed: 0.1 }, 'speed'],
      [{ input: ['a', 'b'] }, 'input'],
    ];
    for (const [body, param] of cases) {
      const response = await speak(body);
      assert.equal(response.status, 400, JSON.stringify(body));
      const error = response.json<ErrorBody>().error;
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.code, 'VS_ERR_INVALID_PARAMETER');
      assert.match(error.message, new RegExp(`'${param}'`), `${JSON.stringify(body)} → ${error.message}`);
      assert.doesNotMatch(error.message, /\/work\/|at .*\.js:\d+/, 'no paths or stack frames');
    }
    const missing = await http(`${base}/v1/audio/speech`, { json: { model: 'tts-1' } });
    assert.equal(missing.status, 400);
    assert.match(missing.json<ErrorBody>().error.message, /'input'/);
    const notJson = await http(`${base}/v1/audio/speech`, {
      body: '{not json',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400);
    assert.ok(notJson.json<ErrorBody>().error.message.length > 0);
  });

  it('lists espeak-ng voices and the OpenAI models', async () => {
    const voices = (await http(`${base}/v1/audio/voices`)).json<{
      voices: { id: string; language: string }[];
      default_voice: string;
    }>();
    assert.ok(voices.voices.length > 50, `${voices.voices.length} voices`);
    assert.ok(voices.voices.some((v) => v.id === 'en-us'));
    assert.ok(voices.voices.some((v) => v.id === 'de'));
    assert.equal(voices.default_voice, 'en-us');
    const models = (await http(`${base}/v1/models`)).json<{ data: { id: string }[] }>();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['tts-1', 'tts-1-hd', 'gpt-4o-mini-tts', 'espeak-ng'],
    );
    assert.equal((await http(`${base}/v1/models/tts-1`)).status, 200);
    assert.equal((await http(`${base}/v1/models/whisper-9`)).status, 404);
  });

  it('serves health, detailed health and Prometheus metrics', async () => {
    for (const path of ['/health', '/healthz', '/healthcheck']) {
      const response = await http(`${base}${path}`);
      assert.equal(response.status, 200);
      assert.deepEqual(response.json(), { status: 'ok' });
    }
    const detailed = (await http(`${base}/health/detailed`)).json<Record<string, Record<string, unknown>>>();
    assert.equal(detailed.service, 'tts');
    for (const [section, fields] of Object.entries({
      memory: ['percent', 'available_mb', 'total_mb', 'threshold_percent'],
      swap: ['percent', 'used_mb', 'total_mb', 'threshold_percent'],
      model: ['loaded', 'engine', 'model_name', 'device', 'last_used'],
      concurrency: ['active_requests', 'max_concurrent', 'available_slots', 'queued', 'max_queue'],
      config: ['idle_timeout_minutes', 'max_upload_mb'],
    })) {
      for (const field of fields) assert.ok(field in (detailed[section] ?? {}), `${section}.${field}`);
    }
    assert.equal(detailed.model?.engine, 'espeak-ng');
    assert.equal(detailed.model?.loaded, true, 'loaded by the earlier requests');
    const metrics = await http(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    const text = metrics.body.toString();
    for (const series of [
      'voice_stack_requests_total{',
      'voice_stack_request_duration_seconds_bucket{',
      'voice_stack_inference_duration_seconds_bucket{',
      'voice_stack_queue_depth{',
      'voice_stack_active_requests{',
      'voice_stack_rejections_total{reason="invalid_parameter"',
      'voice_stack_model_loads_total{result="success"',
      'voice_stack_audio_seconds_total{',
    ]) {
      assert.ok(text.includes(series), `metrics include ${series}`);
    }
  });

  it('logs one line per request with status and duration', async () => {
    await speak({ response_format: 'wav' });
    await server.waitFor(
      () => server.logs.some((l) => l.msg === 'request completed' && l.url === '/v1/audio/speech'),
      2000,
      'request log',
    );
    const line = server.logs.find((l) => l.msg === 'request completed' && l.url === '/v1/audio/speech');
    assert.equal(line?.status, 200);
    assert.equal(typeof line?.durationMs, 'number');
    assert.ok(
      server.logs.some((l) => l.msg?.startsWith('request rejected') && l.reason === 'invalid_parameter'),
    );
  });
});
