import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from '../support/http.js';
import { type ClientEvent, WyomingClient } from './wyoming-client.js';
import { countsSettle, startWithWyoming, type WyomingServices } from './wyoming-services.js';

const TEXT = 'Hello world. This is a test of the speech service.';

function audioOf(events: readonly ClientEvent[]): Buffer {
  return Buffer.concat(
    events.filter((e) => e.type === 'audio-chunk').map((e) => e.payload ?? Buffer.alloc(0)),
  );
}

/** The events between each audio-start and its audio-stop, one array per answer. */
function answers(events: readonly ClientEvent[]): ClientEvent[][] {
  const out: ClientEvent[][] = [];
  for (const event of events) {
    if (event.type === 'audio-start') out.push([]);
    out.at(-1)?.push(event);
  }
  return out;
}

/** 20 ms loudness frames of 24 kHz s16le mono. */
function envelope(pcm: Buffer): number[] {
  const samples = new Int16Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.length / 2));
  const frame = 480;
  const out: number[] = [];
  for (let start = 0; start + frame <= samples.length; start += frame) {
    let sum = 0;
    for (let i = start; i < start + frame; i++) sum += (samples[i] as number) ** 2;
    out.push(Math.sqrt(sum / frame));
  }
  return out;
}

function correlation(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const mean = (x: readonly number[]) => x.slice(0, n).reduce((t, v) => t + v, 0) / n;
  const [ma, mb] = [mean(a), mean(b)];
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const [da, db] = [(a[i] as number) - ma, (b[i] as number) - mb];
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * The same speech, as the HTTP route makes it. Not byte for byte: espeak-ng's stream is
 * cut into pieces where its output pauses, and each piece is resampled to 24 kHz on its
 * own, so lengths may differ by a few samples a piece; the loudness contour may not.
 */
function assertSameSpeech(actual: Buffer, expected: Buffer, what: string): void {
  const tolerance = Math.max(960, expected.length * 0.01);
  assert.ok(
    Math.abs(actual.length - expected.length) <= tolerance,
    `${what}: ${actual.length} vs ${expected.length} bytes`,
  );
  const r = correlation(envelope(actual), envelope(expected));
  assert.ok(r > 0.95, `${what}: loudness contours correlate at ${r.toFixed(3)}`);
}

describe('Wyoming TTS against `voice-stack serve tts` (real espeak-ng)', () => {
  let services: WyomingServices;
  let base: string;
  let port: number;
  before(async () => {
    services = await startWithWyoming('tts', { TTS_MAX_CONCURRENT_REQUESTS: '1' });
    base = services.server.url('tts');
    port = services.port('tts');
  });
  after(() => services?.server.stop());

  it('answers describe with its voices, their languages and streaming support', async () => {
    const client = await WyomingClient.connect(port);
    client.send('describe');
    const info = (await client.readUntil('info'))[0] as ClientEvent;
    client.close();
    const tts = (info.data.tts as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.equal(tts.supports_synthesize_streaming, true);
    assert.equal(tts.installed, true);
    const voices = tts.voices as {
      name: string;
      languages: string[];
      installed: boolean;
      attribution: object;
    }[];
    const enUs = voices.find((v) => v.name === 'en-us');
    assert.deepEqual(enUs?.languages, ['en_US']);
    assert.equal(enUs?.installed, true);
    assert.ok(voices.length > 20, `${voices.length} voices`);
    assert.deepEqual(info.data.asr, []);
  });

  it('synthesizes: audio-start, chunks, audio-stop, the same audio as POST /v1/audio/speech (pcm)', async () => {
    const client = await WyomingClient.connect(port);
    // The text as additional data after the header (data_length), the protocol's other form.
    client.send('synthesize', { text: TEXT, voice: { name: 'en-us' } }, undefined, true);
    const events = await client.readUntil('audio-stop');
    client.close();
    assert.equal(events[0]?.type, 'audio-start');
    assert.deepEqual(events[0]?.data, { rate: 24000, width: 2, channels: 1 });
    assert.ok(events.slice(1, -1).every((e) => e.type === 'audio-chunk' && e.data.rate === 24000));
    const audio = audioOf(events);
    const viaHttp = await http(`${base}/v1/audio/speech`, {
      json: { input: TEXT, voice: 'en-us', response_format: 'pcm' },
    });
    assert.equal(viaHttp.status, 200);
    assert.ok(audio.length > 24000, `${audio.length} bytes`);
    assertSameSpeech(audio, viaHttp.body, 'synthesize vs POST /v1/audio/speech');
  });

  it('picks a voice by language and a variant by speaker', async () => {
    const byLanguage = await WyomingClient.connect(port);
    byLanguage.send('synthesize', { text: 'Guten Tag.', voice: { language: 'de_DE' } });
    assert.ok(audioOf(await byLanguage.readUntil('audio-stop')).length > 0);
    byLanguage.close();
    const bySpeaker = await WyomingClient.connect(port);
    bySpeaker.send('synthesize', { text: 'Hello.', voice: { name: 'en-us', speaker: 'f3' } });
    const female = audioOf(await bySpeaker.readUntil('audio-stop'));
    bySpeaker.close();
    const plain = await WyomingClient.connect(port);
    plain.send('synthesize', { text: 'Hello.', voice: { name: 'en-us' } });
    assert.ok(!female.equals(audioOf(await plain.readUntil('audio-stop'))));
    plain.close();
  });

  it('streams: each finished sentence is spoken before the text ends, then synthesize-stopped', async () => {
    const client = await WyomingClient.connect(port);
    client.send('synthesize-start', { voice: { name: 'en-us' } });
    client.send('synthesize-chunk', { text: 'Hello wor' });
    client.send('synthesize-chunk', { text: 'ld. This is' });
    // The first sentence is complete: its audio comes while the rest is still unsent.
    const first = await client.readUntil('audio-stop');
    assert.equal(first[0]?.type, 'audio-start');
    client.send('synthesize-chunk', { text: ' a test. And' });
    client.send('synthesize-chunk', { text: ' one more' });
    // The whole text again, as Home Assistant sends it for servers that do not stream: ignored here.
    client.send('synthesize', {
      text: 'Hello world. This is a test. And one more',
      voice: { name: 'en-us' },
    });
    client.send('synthesize-stop');
    const rest = await client.readUntil('synthesize-stopped');
    client.close();
    const all = [...first, ...rest];
    assert.equal(all.at(-1)?.type, 'synthesize-stopped');
    const spoken = answers(all.slice(0, -1));
    assert.equal(spoken.length, 3, all.map((e) => e.type).join(','));
    for (const answer of spoken) {
      assert.equal(answer.at(-1)?.type, 'audio-stop');
      assert.ok(audioOf(answer).length > 0);
    }
    const single = await http(`${base}/v1/audio/speech`, {
      json: { input: 'This is a test.', voice: 'en-us', response_format: 'pcm' },
    });
    assertSameSpeech(audioOf(spoken[1] ?? []), single.body, 'the second answer is the second sentence');
  });

  it('answers an unknown voice, empty text and a stray synthesize-chunk with error events', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['synthesize', { text: 'Hello.', voice: { name: 'no-such-voice' } }, /unknown voice 'no-such-voice'/],
      ['synthesize', { text: '  ' }, /'text'/],
      ['synthesize-chunk', { text: 'Hello.' }, /outside a stream/],
    ];
    for (const [type, data, message] of cases) {
      const client = await WyomingClient.connect(port);
      client.send(type, data);
      const events = await client.readToEnd();
      assert.deepEqual(
        events.map((e) => e.type),
        ['error'],
      );
      assert.match(String(events[0]?.data.text), message);
      assert.match(String(events[0]?.data.code), /^VS_ERR_/);
    }
  });

  it('releases everything when clients vanish mid-synthesis, and keeps serving', async () => {
    const long = Array.from(
      { length: 20 },
      (_, i) => `This is sentence number ${i + 1} of a long text.`,
    ).join(' ');
    for (let i = 0; i < 8; i += 1) {
      const client = await WyomingClient.connect(port);
      client.send('synthesize', { text: long });
      if (i % 2 === 0) await client.readUntil('audio-chunk');
      if (i % 4 < 2) client.destroy();
      else client.reset();
    }
    const streaming = await WyomingClient.connect(port);
    streaming.send('synthesize-start', {});
    streaming.send('synthesize-chunk', { text: `${long} And` });
    await streaming.readUntil('audio-chunk');
    streaming.reset();
    assert.deepEqual(await countsSettle(base), { active: 0, queued: 0 });
    const client = await WyomingClient.connect(port);
    client.send('synthesize', { text: 'Still here.' });
    assert.ok(audioOf(await client.readUntil('audio-stop')).length > 0);
    client.close();
  });

  it('refuses a malformed header and an oversized data length, and stays up', async () => {
    const bad = await WyomingClient.connect(port);
    bad.sendRaw('{"type": 42}\n');
    assert.match(String((await bad.readToEnd())[0]?.data.text), /no event type/);
    const big = await WyomingClient.connect(port);
    big.sendRaw(`${JSON.stringify({ type: 'synthesize', data_length: 2 ** 31 })}\n`);
    assert.match(String((await big.readToEnd())[0]?.data.text), /data_length/);
    assert.equal((await http(`${base}/health`)).status, 200);
    assert.deepEqual(await countsSettle(base), { active: 0, queued: 0 });
  });
});
