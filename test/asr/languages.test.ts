import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { normaliseLanguage } from '../../src/asr/languages.js';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { ServiceProcess } from '../support/service-process.js';

describe('language tags map to Whisper codes', () => {
  const cases: [string, string][] = [
    ['en', 'en'],
    ['EN', 'en'],
    ['en-US', 'en'],
    ['en_us', 'en'],
    ['pt-BR', 'pt'],
    ['zh-Hant', 'zh'],
    ['zh-TW', 'zh'],
    ['zh_Hans_CN', 'zh'],
    ['cmn', 'zh'],
    ['yue', 'yue'],
    ['yue-HK', 'yue'],
    ['fil', 'tl'],
    ['fil-PH', 'tl'],
    ['tl', 'tl'],
    ['tgl', 'tl'],
    ['Filipino', 'tl'],
    ['iw', 'he'],
    ['he-IL', 'he'],
    ['jw', 'jw'],
    ['jv', 'jw'],
    ['jav', 'jw'],
    ['in', 'id'],
    ['nb', 'no'],
    ['nb-NO', 'no'],
    ['no-NO', 'no'],
    ['nn', 'nn'],
    ['eng', 'en'],
    ['fre', 'fr'],
    ['deu', 'de'],
    ['haw', 'haw'],
    ['english', 'en'],
    ['French', 'fr'],
    ['  German ', 'de'],
    ['Burmese', 'my'],
    ['haitian creole', 'ht'],
    ['sr-Latn', 'sr'],
  ];
  for (const [input, code] of cases) {
    it(`${JSON.stringify(input)} → ${code}`, () => assert.equal(normaliseLanguage(input), code));
  }
  for (const input of [
    'klingon',
    'xx',
    'tlh',
    'constructor',
    'toString',
    'und',
    'zxx',
    'en--US',
    '',
    'gsw',
  ]) {
    it(`${JSON.stringify(input)} is unknown`, () => assert.equal(normaliseLanguage(input), undefined));
  }
});

describe('clients send their language tags to the real server', () => {
  let server: ServiceProcess;
  let base: string;
  let wav: Buffer;
  before(async () => {
    const model = await testWhisperModel();
    wav = readFileSync(
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    server = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: model });
    base = server.url('asr');
  });
  after(() => server.stop());

  const post = async (url: string, fields: Record<string, string>, field: string, name: string) => {
    const form = new FormData();
    form.append(field, new Blob([new Uint8Array(wav)]), name);
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    const response = await request(url, { method: 'POST', body: form });
    return { status: response.statusCode, text: await response.body.text() };
  };

  it("Home Assistant's OpenAI STT: language 'fil' (from fil-PH), response_format json", async () => {
    const response = await post(
      `${base}/v1/audio/transcriptions`,
      { model: 'gpt-4o-mini-transcribe', response_format: 'json', language: 'fil', prompt: '' },
      'file',
      'a.wav',
    );
    assert.equal(response.status, 200, response.text);
    assert.equal(typeof JSON.parse(response.text).text, 'string');
  });

  it("Open WebUI: language 'en-US', verbose_json with segment timestamps; reports Whisper's code", async () => {
    const response = await post(
      `${base}/v1/audio/transcriptions`,
      {
        model: 'whisper-1',
        response_format: 'verbose_json',
        'timestamp_granularities[]': 'segment',
        language: 'en-US',
      },
      'file',
      'recording.wav',
    );
    assert.equal(response.status, 200, response.text);
    assert.equal(JSON.parse(response.text).language, 'english');
  });

  it('Bazarr /asr takes tags in the query; an unknown one is a 400 naming language', async () => {
    const ok = await post(
      `${base}/asr?task=transcribe&language=pt-BR&output=srt`,
      {},
      'audio_file',
      'audio_file',
    );
    assert.equal(ok.status, 200, ok.text);
    const bad = await post(`${base}/asr?language=klingon&output=srt`, {}, 'audio_file', 'audio_file');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.text).error.message, /'language'/);
  });
});
