import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { convertAudio, speechWav, testWhisperModel } from '../support/fixtures.js';
import { http, postForm } from '../support/http.js';
import { type ClientEvent, WyomingClient } from './wyoming-client.js';
import { countsSettle, startWithWyoming, type WyomingServices } from './wyoming-services.js';

const SENTENCE = 'Testing one two three. The service transcribes this sentence.';
const MONO_16K = { rate: 16000, width: 2, channels: 1 };

/** The audio-seconds counter of /metrics. */
async function audioSecondsCounted(base: string): Promise<number> {
  const text = (await http(`${base}/metrics`)).body.toString('utf8');
  const line = text.split('\n').find((l) => l.startsWith('voice_stack_audio_seconds_total'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

describe('Wyoming ASR against `voice-stack serve asr` (real whisper.cpp, generated model)', () => {
  let services: WyomingServices;
  let base: string;
  let port: number;
  let pcm16k: Buffer;
  let wav16k: Buffer;
  before(async () => {
    const speech = speechWav(SENTENCE, 'asr-speech');
    pcm16k = readFileSync(
      convertAudio(speech, 'wyoming-16k.s16le', ['-f', 's16le', '-ar', '16000', '-ac', '1']),
    );
    wav16k = readFileSync(convertAudio(speech, 'wyoming-16k.wav', ['-ar', '16000', '-ac', '1']));
    services = await startWithWyoming('asr', {
      ASR_MODEL: await testWhisperModel(),
      MAX_CONCURRENT_REQUESTS: '1',
    });
    base = services.server.url('asr');
    port = services.port('asr');
  });
  after(() => services?.server.stop());

  it('answers describe with an ASR program, its model, languages and streaming support', async () => {
    const client = await WyomingClient.connect(port);
    client.send('describe');
    const info = (await client.readUntil('info'))[0] as ClientEvent;
    client.close();
    const asr = (info.data.asr as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.equal(asr.installed, true);
    assert.equal(asr.supports_transcript_streaming, true);
    assert.equal(typeof asr.name, 'string');
    assert.equal(typeof (asr.attribution as { name: string }).name, 'string');
    const model = (asr.models as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.equal(model.installed, true);
    assert.ok((model.languages as string[]).includes('en'));
    assert.ok((model.languages as string[]).includes('de'));
    assert.deepEqual(info.data.tts, []);
  });

  it('transcribes a stream of 20 ms chunks to the same text as the HTTP route, streamed and whole', async () => {
    const client = await WyomingClient.connect(port);
    client.send('transcribe', { language: 'en' });
    client.sendAudio(pcm16k, MONO_16K);
    const events = await client.readUntil('transcript-stop');
    client.close();

    const types = events.map((e) => e.type);
    assert.equal(types[0], 'transcript-start');
    assert.deepEqual(types.slice(-2), ['transcript', 'transcript-stop']);
    assert.ok(
      types.slice(1, -2).every((t) => t === 'transcript-chunk'),
      types.join(','),
    );
    const transcript = events.at(-2) as ClientEvent;
    const chunks = events.filter((e) => e.type === 'transcript-chunk').map((e) => e.data.text as string);
    assert.equal(chunks.join('').trim(), transcript.data.text);
    assert.equal(transcript.data.language, 'en');

    const viaHttp = await postForm(
      `${base}/v1/audio/transcriptions`,
      { model: 'whisper-1', language: 'en' },
      { field: 'file', data: wav16k, name: 'speech.wav' },
    );
    assert.equal(viaHttp.status, 200, viaHttp.text);
    assert.equal(transcript.data.text, (viaHttp.json() as { text: string }).text.trim());
  });

  it('converts audio of another rate, width and channel count (44.1 kHz stereo 32-bit)', async () => {
    const stereo = readFileSync(
      convertAudio(speechWav(SENTENCE, 'asr-speech'), 'wyoming-44k-stereo.s32le', [
        '-f',
        's32le',
        '-ar',
        '44100',
        '-ac',
        '2',
      ]),
    );
    const seconds = stereo.length / (44100 * 4 * 2);
    const before = await audioSecondsCounted(base);
    const client = await WyomingClient.connect(port);
    client.sendAudio(stereo, { rate: 44100, width: 4, channels: 2 }, 100);
    const events = await client.readUntil('transcript');
    client.close();
    assert.equal(typeof events.at(-1)?.data.text, 'string');
    const counted = (await audioSecondsCounted(base)) - before;
    // Read as the wrong width or channel count, the length would be off by a factor of two or more.
    assert.ok(Math.abs(counted - seconds) < 0.01, `counted ${counted} s of ${seconds} s`);
  });

  it('serves several requests on one connection', async () => {
    const client = await WyomingClient.connect(port);
    for (let i = 0; i < 2; i += 1) {
      client.send('transcribe', { language: 'en' });
      client.sendAudio(pcm16k.subarray(0, 32000), MONO_16K);
      await client.readUntil('transcript-stop');
    }
    client.send('describe');
    await client.readUntil('info');
    client.close();
  });

  it('answers transcribe without audio with an empty transcript, and audio-stop alone with an error', async () => {
    const client = await WyomingClient.connect(port);
    client.send('transcribe', { language: 'en' });
    client.send('audio-stop');
    const events = await client.readUntil('transcript-stop');
    assert.equal(events.find((e) => e.type === 'transcript')?.data.text, '');
    client.send('audio-stop');
    const after = await client.readToEnd();
    assert.equal(after[0]?.data.code, 'VS_ERR_PROTOCOL');
  });

  it('answers a malformed header with an error event and closes; the server stays up', async () => {
    const client = await WyomingClient.connect(port);
    client.sendRaw('this is not json\n');
    const events = await client.readToEnd();
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, 'error');
    assert.equal(events[0]?.data.code, 'VS_ERR_PROTOCOL');
    assert.match(String(events[0]?.data.text), /header is not JSON/);

    const again = await WyomingClient.connect(port);
    again.send('describe');
    assert.equal((await again.readUntil('info')).length, 1);
    again.close();
  });

  it('refuses an oversized payload from its header, without reading it', async () => {
    const client = await WyomingClient.connect(port);
    client.send('audio-start', MONO_16K);
    // Declares 1 GiB and sends none of it: the answer comes from the header alone.
    client.sendRaw(`${JSON.stringify({ type: 'audio-chunk', data: MONO_16K, payload_length: 2 ** 30 })}\n`);
    const events = await client.readToEnd();
    assert.deepEqual(
      events.map((e) => e.type),
      ['error'],
    );
    assert.match(String(events[0]?.data.text), /payload_length/);
    assert.equal((await http(`${base}/health`)).status, 200);
  });

  it('refuses a header line that never ends', async () => {
    const client = await WyomingClient.connect(port);
    client.sendRaw(`{"type": "${'x'.repeat(200_000)}`);
    const events = await client.readToEnd();
    assert.equal(events[0]?.type, 'error');
    assert.match(String(events[0]?.data.text), /header line longer/);
  });

  it('answers bad audio with an error event', async () => {
    const client = await WyomingClient.connect(port);
    client.send('audio-start', { rate: 16000, width: 7, channels: 1 });
    const events = await client.readToEnd();
    assert.equal(events[0]?.type, 'error');
    assert.equal(events[0]?.data.code, 'VS_ERR_AUDIO_DECODE');
    assert.match(String(events[0]?.data.text), /width/);
  });

  it('answers an unknown language with an error naming the parameter', async () => {
    const client = await WyomingClient.connect(port);
    client.send('transcribe', { language: 'klingon' });
    const events = await client.readToEnd();
    assert.equal(events[0]?.type, 'error');
    assert.match(String(events[0]?.data.text), /'language'/);
  });

  it('releases everything when clients vanish mid-audio and mid-inference', async () => {
    for (let i = 0; i < 10; i += 1) {
      const client = await WyomingClient.connect(port);
      client.send('transcribe', { language: 'en' });
      client.send('audio-start', MONO_16K);
      client.send('audio-chunk', MONO_16K, pcm16k.subarray(0, 16000));
      if (i % 2 === 0) client.destroy();
      else client.reset();
    }
    const long = Buffer.concat(Array.from({ length: 6 }, () => pcm16k));
    for (let i = 0; i < 3; i += 1) {
      const client = await WyomingClient.connect(port);
      client.sendAudio(long, MONO_16K, 500);
      // Gone right after audio-stop: the transcription is queued or running.
      setTimeout(() => (i % 2 === 0 ? client.destroy() : client.reset()), 20 * i);
    }
    assert.deepEqual(await countsSettle(base), { active: 0, queued: 0 });
    const client = await WyomingClient.connect(port);
    client.sendAudio(pcm16k.subarray(0, 32000), MONO_16K);
    assert.equal((await client.readUntil('transcript')).at(-1)?.type, 'transcript');
    client.close();
  });
});
