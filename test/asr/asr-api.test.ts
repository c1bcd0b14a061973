import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { convertAudio, speechWav, testWhisperModel } from '../support/fixtures.js';
import { detailedHealth, http, postForm } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';
import { assertRefusedTooLarge, streamUpload } from '../support/upload.js';

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

const SRT_CUE = /^(\d+)\n(\d{2}:\d{2}:\d{2},\d{3}) --> (\d{2}:\d{2}:\d{2},\d{3})\n.+/;

function assertMonotonicCues(times: [string, string][]) {
  const seconds = (t: string) => {
    const [h, m, s] = t.replace(',', '.').split(':').map(Number);
    return (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0);
  };
  let previous = 0;
  for (const [start, end] of times) {
    assert.ok(seconds(start) >= previous, `cue ${start} starts after the previous end`);
    assert.ok(seconds(end) > seconds(start), `cue ${start} --> ${end} has positive length`);
    previous = seconds(end);
  }
}

describe('ASR API on whisper.cpp with a generated model (real server, real binding)', () => {
  let server: ServiceProcess;
  let base: string;
  let wav: Buffer;
  before(async () => {
    const model = await testWhisperModel();
    wav = readFileSync(
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: model,
      MAX_CONCURRENT_REQUESTS: '2',
      MAX_UPLOAD_SIZE_MB: '100',
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  const transcribe = (fields: Record<string, string | string[]>, data = wav, name = 'speech.wav') =>
    postForm(
      `${base}/v1/audio/transcriptions`,
      { model: 'whisper-1', ...fields },
      { field: 'file', data, name },
    );

  it('answers every OpenAI response format', async () => {
    const json = await transcribe({ response_format: 'json' });
    assert.equal(json.status, 200, json.text);
    assert.equal(typeof json.json().text, 'string');

    const text = await transcribe({ response_format: 'text' });
    assert.equal(text.status, 200);
    assert.match(String(text.headers['content-type']), /^text\/plain/);

    const srt = await transcribe({ response_format: 'srt' });
    assert.equal(srt.status, 200);
    const cues = srt.text
      .trim()
      .split('\n\n')
      .filter((c) => c.length > 0);
    const times = cues.map((cue) => {
      const match = SRT_CUE.exec(cue);
      assert.ok(match, `well-formed SRT cue: ${JSON.stringify(cue)}`);
      return [match[2], match[3]] as [string, string];
    });
    assertMonotonicCues(times);

    const vtt = await transcribe({ response_format: 'vtt' });
    assert.equal(vtt.status, 200);
    assert.ok(vtt.text.startsWith('WEBVTT\n'));

    const verbose = await transcribe({ response_format: 'verbose_json' });
    assert.equal(verbose.status, 200);
    const body = verbose.json<{
      language: string;
      duration: number;
      segments: {
        id: number;
        start: number;
        end: number;
        text: string;
        tokens: number[];
        avg_logprob: number;
        no_speech_prob: number;
      }[];
      words?: unknown[];
    }>();
    assert.ok(body.duration > 2 && body.duration < 10, `duration ${body.duration}`);
    assert.equal(typeof body.language, 'string');
    for (const segment of body.segments) {
      for (const key of ['id', 'start', 'end', 'text', 'tokens', 'avg_logprob', 'no_speech_prob']) {
        assert.ok(key in segment, `segment.${key}`);
      }
      assert.ok(segment.end <= body.duration + 0.5, 'segment inside the audio');
      // Real figures from whisper.cpp, not placeholders.
      assert.ok(segment.tokens.length > 0 && segment.tokens.every(Number.isInteger), 'token ids');
      assert.ok(segment.avg_logprob < 0, `avg_logprob ${segment.avg_logprob}`);
      assert.ok(
        segment.no_speech_prob >= 0 && segment.no_speech_prob <= 1,
        `no_speech_prob ${segment.no_speech_prob}`,
      );
    }
    assert.ok(body.segments.length > 0);
    // whisper.cpp's own no-speech probability, not the 0 a build without it reports.
    assert.ok(
      body.segments.some((s) => s.no_speech_prob > 0),
      `no_speech_prob ${body.segments.map((s) => s.no_speech_prob).join(', ')}`,
    );
    assert.equal(body.words, undefined);
    // The default CPU build ran it, and /health/detailed says which.
    assert.match(
      (await detailedHealth(base)).model.build ?? '',
      /^whisper\.cpp 1\.8\.3 prebuilt .*runtime CPU dispatch/,
    );
  });

  it('gives word timestamps with verbose_json when asked', async () => {
    const verbose = await transcribe({
      response_format: 'verbose_json',
      'timestamp_granularities[]': ['word', 'segment'],
    });
    assert.equal(verbose.status, 200, verbose.text);
    const words = verbose.json<{ words: { word: string; start: number; end: number }[] }>().words;
    assert.ok(Array.isArray(words) && words.length > 0);
    for (const word of words) assert.ok(word.end >= word.start);
  });

  it('translates', async () => {
    const response = await postForm(
      `${base}/v1/audio/translations`,
      { model: 'whisper-1' },
      { field: 'file', data: wav, name: 'a.wav' },
    );
    assert.equal(response.status, 200, response.text);
    assert.equal(typeof response.json().text, 'string');
  });

  it('decodes the common containers', async () => {
    const source = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    for (const name of ['speech.mp3', 'speech.flac', 'speech.ogg', 'speech.m4a', 'speech.webm']) {
      const file = readFileSync(convertAudio(source, name));
      const response = await transcribe({ response_format: 'verbose_json' }, file, name);
      assert.equal(response.status, 200, `${name}: ${response.text}`);
      const duration = response.json<{ duration: number }>().duration;
      assert.ok(Math.abs(duration - 3.9) < 1.5, `${name}: duration ${duration}`);
    }
  });

  it('works with the official openai client, unchanged', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-needed' });
    const path = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    const result = await client.audio.transcriptions.create({
      file: createReadStream(path),
      model: 'whisper-1',
    });
    assert.equal(typeof result.text, 'string');
    const verbose = await client.audio.transcriptions.create({
      file: createReadStream(path),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word'],
    });
    assert.ok(verbose.duration > 1);
    assert.ok(Array.isArray(verbose.words));
    const srt = await client.audio.transcriptions.create({
      file: createReadStream(path),
      model: 'whisper-1',
      response_format: 'srt',
    });
    assert.equal(typeof srt, 'string');
    const translation = await client.audio.translations.create({
      file: createReadStream(path),
      model: 'whisper-1',
    });
    assert.equal(typeof translation.text, 'string');
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === 'whisper-1'));
  });

  it('serves the Bazarr API: /asr in every output and /detect-language', async () => {
    const outputs: Record<string, (text: string) => void> = {
      txt: (t) => assert.equal(typeof t, 'string'),
      srt: (t) => assert.ok(t === '' || SRT_CUE.test(t), t),
      vtt: (t) => assert.ok(t.startsWith('WEBVTT')),
      tsv: (t) => assert.ok(t.startsWith('start\tend\ttext\n')),
      json: (t) => assert.ok(Array.isArray(JSON.parse(t).segments)),
      jsonl: (t) => {
        for (const line of t.trim().split('\n').filter(Boolean))
          assert.equal(typeof JSON.parse(line).start, 'number');
      },
    };
    for (const [output, check] of Object.entries(outputs)) {
      const response = await postForm(
        `${base}/asr?task=transcribe&language=en&output=${output}&word_timestamps=true`,
        {},
        { field: 'audio_file', data: wav, name: 'a.wav' },
      );
      assert.equal(response.status, 200, `${output}: ${response.text}`);
      check(response.text);
    }
    const detect = await postForm(
      `${base}/detect-language`,
      {},
      { field: 'audio_file', data: wav, name: 'a.wav' },
    );
    assert.equal(detect.status, 200, detect.text);
    const detected = detect.json<{ detected_language: string; language_code: string; confidence: number }>();
    assert.match(detected.language_code, /^[a-z]{2,3}$/);
    assert.ok(detected.confidence > 0 && detected.confidence <= 1, `confidence ${detected.confidence}`);
    assert.ok(detected.detected_language.length > 2);
  });

  it('takes raw 16 kHz s16le PCM with encode=false', async () => {
    const pcm = Buffer.alloc(16000 * 2 * 2);
    for (let i = 0; i < pcm.length / 2; i++)
      pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
    const response = await postForm(
      `${base}/asr?encode=false&output=json`,
      {},
      { field: 'audio_file', data: pcm, name: 'a.pcm' },
    );
    assert.equal(response.status, 200, response.text);
  });

  it('lists the catalog with cached and loaded flags', async () => {
    const models = (await http(`${base}/v1/models`)).json<{
      data: { id: string; cached: boolean; loaded: boolean }[];
    }>();
    for (const id of [
      'whisper-1',
      'tiny',
      'base',
      'small',
      'medium',
      'large-v3',
      'large-v3-turbo',
      'base.en',
      'base-q5_1',
      'base-q8_0',
    ]) {
      assert.ok(
        models.data.some((m) => m.id === id),
        id,
      );
    }
    assert.equal(models.data.find((m) => m.id === 'whisper-1')?.loaded, true);
    assert.equal(models.data.find((m) => m.id === 'large-v3')?.cached, false);
  });

  it('answers bad input with 400, stays up and leaks no slot', async () => {
    const cases: [string, Buffer, Record<string, string>, RegExp][] = [
      ['empty.wav', Buffer.alloc(0), {}, /'file'/],
      [
        'noise.mp3',
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
        {},
        /^Could not decode audio/,
      ],
      ['notes.txt', Buffer.from('this is not audio at all\n'.repeat(50)), {}, /^Could not decode audio/],
      ['truncated.wav', wav.subarray(0, 30), {}, /^Could not decode audio/],
      ['speech.wav', wav, { language: 'klingon' }, /'language'/],
      ['speech.wav', wav, { response_format: 'docx' }, /'response_format'/],
      ['speech.wav', wav, { temperature: '7' }, /'temperature'/],
    ];
    for (const [name, data, fields, message] of cases) {
      const response = await transcribe(fields, data, name);
      assert.equal(response.status, 400, `${name} ${JSON.stringify(fields)}: ${response.text}`);
      assert.match(response.json<ErrorBody>().error.message, message);
    }
    const noFile = await postForm(`${base}/v1/audio/transcriptions`, { model: 'whisper-1' });
    assert.equal(noFile.status, 400);
    assert.match(noFile.json<ErrorBody>().error.message, /'file'/);
    const notMultipart = await http(`${base}/v1/audio/transcriptions`, { json: { file: 'x' } });
    assert.equal(notMultipart.status, 400);
    assert.equal((await http(`${base}/health`)).status, 200);
    const health = await detailedHealth(base);
    assert.equal(health.concurrency.active_requests, 0);
    assert.equal(health.concurrency.queued, 0);
    assert.equal((await transcribe({})).status, 200, 'still serving');
  });

  it('refuses a 120 MB upload over MAX_UPLOAD_SIZE_MB=100 with 413 and stops reading', async () => {
    const total = 120 * 1024 * 1024;
    for (const chunked of [false, true]) {
      const upload = () =>
        streamUpload(`${base}/v1/audio/transcriptions`, total, {
          chunked,
          contentType: 'multipart/form-data; boundary=XyZ',
          preamble:
            '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n',
        });
      await assertRefusedTooLarge(server, upload, { totalBytes: total, chunked });
    }
    const health = await detailedHealth(base);
    assert.equal(health.concurrency.active_requests, 0);
  });
});

describe('ASR with a model that cannot be loaded', () => {
  it('answers 503 naming the model and stays up', async () => {
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: '/nonexistent/ggml-missing.bin',
    });
    try {
      const base = server.url('asr');
      const wav = readFileSync(
        speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
      );
      const response = await postForm(
        `${base}/v1/audio/transcriptions`,
        {},
        { field: 'file', data: wav, name: 'a.wav' },
      );
      assert.equal(response.status, 503);
      const message = response.json<ErrorBody>().error.message;
      assert.match(message, /ggml-missing\.bin/);
      assert.doesNotMatch(message, /\/nonexistent/, 'no file paths in error bodies');
      assert.equal((await http(`${base}/health`)).status, 200);
      assert.equal((await detailedHealth(base)).concurrency.active_requests, 0);
    } finally {
      await server.stop();
    }
  });
});
