import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAudio, decodeRawPcm16 } from '../../src/audio/decode.js';
import {
  AUDIO_FORMATS,
  atempoChain,
  contentTypeFor,
  encodeAudio,
  setFlacTotalSamples,
} from '../../src/audio/encode.js';
import { durationSeconds, type PcmAudio } from '../../src/audio/pcm-audio.js';
import { dominantFrequency, sine } from './signals.js';

const RATE = 24000;
const SECONDS = 1.5;
const speech: PcmAudio = { sampleRate: RATE, samples: sine(440, RATE, SECONDS, 0.4) };

async function roundTrip(audio: PcmAudio, format: (typeof AUDIO_FORMATS)[number], tempo = 1) {
  const encoded = await encodeAudio(audio, format, { tempo });
  assert.ok(encoded.length > 0);
  return format === 'pcm' ? decodeRawPcm16(encoded, audio.sampleRate) : decodeAudio({ data: encoded });
}

describe('encodeAudio', () => {
  for (const format of AUDIO_FORMATS) {
    it(`${format}: round-trips through ffmpeg at about the same duration and pitch`, async () => {
      const decoded = await roundTrip(speech, format);
      const duration = durationSeconds(decoded);
      assert.ok(Math.abs(duration - SECONDS) < 0.08, `${format} decoded to ${duration}s`);
      assert.ok(Math.abs(dominantFrequency(decoded.samples, 16000) - 440) <= 10);
    });
  }

  for (const format of ['wav', 'mp3', 'opus'] as const) {
    it(`${format}: tempo 2 halves the duration and keeps the pitch`, async () => {
      const decoded = await roundTrip(speech, format, 2);
      assert.ok(Math.abs(durationSeconds(decoded) - SECONDS / 2) < 0.08, `${durationSeconds(decoded)}s`);
      assert.ok(Math.abs(dominantFrequency(decoded.samples, 16000) - 440) <= 10);
    });
  }

  it('pcm: tempo 0.25 (a chain of atempo filters) quadruples the duration', async () => {
    const decoded = await roundTrip(speech, 'pcm', 0.25);
    assert.ok(Math.abs(durationSeconds(decoded) - SECONDS * 4) < 0.1, `${durationSeconds(decoded)}s`);
  });

  it('writes wav and pcm in process exactly when the tempo is 1', async () => {
    const wav = await encodeAudio(speech, 'wav');
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.readUInt32LE(24), RATE);
    assert.equal((await encodeAudio(speech, 'pcm')).length, speech.samples.length * 2);
  });

  it('writes each format in its container', async () => {
    const head = async (format: (typeof AUDIO_FORMATS)[number]) =>
      (await encodeAudio(speech, format)).subarray(0, 4);
    assert.equal((await head('opus')).toString('ascii'), 'OggS');
    assert.equal((await head('flac')).toString('ascii'), 'fLaC');
    const adts = await head('aac');
    assert.equal(adts[0], 0xff);
    assert.equal((adts[1] ?? 0) & 0xf0, 0xf0);
  });

  it('accepts rates a codec does not support by picking the next one up', async () => {
    const odd: PcmAudio = { sampleRate: 22000, samples: sine(440, 22000, 1) };
    for (const format of ['mp3', 'aac', 'opus'] as const) {
      const decoded = await roundTrip(odd, format);
      assert.ok(Math.abs(durationSeconds(decoded) - 1) < 0.08, `${format}: ${durationSeconds(decoded)}s`);
    }
  });

  it('flac: STREAMINFO holds the exact sample count, 36 bits wide, the bit depth untouched', async () => {
    const flac = await encodeAudio(speech, 'flac');
    const totalOf = (b: Buffer) => ((b[21] as number) & 0x0f) * 2 ** 32 + b.readUInt32BE(22);
    assert.equal(totalOf(flac), speech.samples.length);
    const depthNibble = (flac[21] as number) & 0xf0;
    setFlacTotalSamples(flac, 2 ** 35 + 7);
    assert.equal(totalOf(flac), 2 ** 35 + 7);
    assert.equal((flac[21] as number) & 0xf0, depthNibble);
    assert.throws(() => setFlacTotalSamples(flac, 2 ** 36), RangeError);
    assert.throws(() => setFlacTotalSamples(Buffer.from('RIFF....WAVE'), 1), /STREAMINFO/);
  });

  it('rejects a tempo outside 0.25–4 as an invalid speed', async () => {
    for (const tempo of [0.2, 5, Number.NaN]) {
      await assert.rejects(encodeAudio(speech, 'mp3', { tempo }), { code: 'VS_ERR_INVALID_PARAMETER' });
    }
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    const controller = new AbortController();
    const long: PcmAudio = { sampleRate: RATE, samples: sine(440, RATE, 120) };
    const encoding = encodeAudio(long, 'flac', { signal: controller.signal });
    controller.abort(new Error('stop'));
    await assert.rejects(encoding, /stop/);
  });
});

describe('formats', () => {
  it('names the content type of each format', () => {
    assert.deepEqual(Object.fromEntries(AUDIO_FORMATS.map((format) => [format, contentTypeFor(format)])), {
      mp3: 'audio/mpeg',
      opus: 'audio/ogg; codecs=opus',
      aac: 'audio/aac',
      flac: 'audio/flac',
      wav: 'audio/wav',
      pcm: 'audio/pcm',
    });
  });

  it('chains atempo so each step stays within 0.5–2', () => {
    assert.equal(atempoChain(1.5), 'atempo=1.5');
    assert.equal(atempoChain(4), 'atempo=2,atempo=2');
    assert.equal(atempoChain(3), 'atempo=2,atempo=1.5');
    assert.equal(atempoChain(0.25), 'atempo=0.5,atempo=0.5');
  });
});
