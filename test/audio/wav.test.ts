import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeWav,
  floatToS16le,
  isWav,
  parseWav,
  s16leToFloat,
  WavStreamReader,
} from '../../src/audio/wav.js';

interface WavSpec {
  tag?: number;
  channels?: number;
  rate?: number;
  bits?: number;
  extensibleSubformat?: number;
  chunksBeforeData?: { id: string; body: Uint8Array }[];
  dataSize?: number;
}

/** Builds a WAV byte by byte, so the tests control every field the parser reads. */
function wav(payload: Uint8Array, spec: WavSpec = {}): Uint8Array {
  const { channels = 1, rate = 16000, bits = 16 } = spec;
  const extensible = spec.extensibleSubformat !== undefined;
  const fmt = Buffer.alloc(extensible ? 40 : 16);
  fmt.writeUInt16LE(extensible ? 0xfffe : (spec.tag ?? 1), 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  if (extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(bits, 18);
    fmt.writeUInt16LE(spec.extensibleSubformat ?? 1, 24);
  }
  const chunks = [chunk('fmt ', fmt), ...(spec.chunksBeforeData ?? []).map((c) => chunk(c.id, c.body))];
  chunks.push(chunk('data', payload, spec.dataSize));
  const body = Buffer.concat(chunks);
  const header = Buffer.alloc(12);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(body.length + 4, 4);
  header.write('WAVE', 8, 'ascii');
  return Buffer.concat([header, body]);
}

function chunk(id: string, body: Uint8Array, declaredSize = body.length): Buffer {
  const header = Buffer.alloc(8);
  header.write(id, 0, 'ascii');
  header.writeUInt32LE(declaredSize, 4);
  return Buffer.concat([header, body, Buffer.alloc(body.length & 1)]);
}

function assertDecodeError(fn: () => unknown, detail: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.equal((error as { code?: string }).code, 'VS_ERR_AUDIO_DECODE');
    assert.match((error as Error).message, /^Could not decode audio: /);
    assert.match((error as Error).message, detail);
    return true;
  });
}

describe('parseWav', () => {
  it('reads 16-bit PCM and keeps channels apart', () => {
    const payload = Buffer.from(Int16Array.of(16384, -16384, 32767, -32768).buffer);
    const parsed = parseWav(wav(payload, { channels: 2, rate: 22050 }));
    assert.equal(parsed.sampleRate, 22050);
    assert.equal(parsed.channels, 2);
    assert.deepEqual([...(parsed.channelData[0] ?? [])], [0.5, 32767 / 32768]);
    assert.deepEqual([...(parsed.channelData[1] ?? [])], [-0.5, -1]);
  });

  it('reads 8-bit unsigned, 24-bit and 32-bit integer PCM', () => {
    assert.deepEqual(
      [...(parseWav(wav(Uint8Array.of(0, 128, 192), { bits: 8 })).channelData[0] ?? [])],
      [-1, 0, 0.5],
    );
    const s24 = Uint8Array.of(0x00, 0x00, 0x40, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff);
    assert.deepEqual([...(parseWav(wav(s24, { bits: 24 })).channelData[0] ?? [])], [0.5, -0.5, -1 / 8388608]);
    const s32 = Buffer.alloc(8);
    s32.writeInt32LE(-1073741824, 0);
    s32.writeInt32LE(2147483647, 4);
    const [first, second] = parseWav(wav(s32, { bits: 32 })).channelData[0] ?? [];
    assert.equal(first, -0.5);
    assert.ok(Math.abs((second ?? 0) - 1) < 1e-6);
  });

  it('reads 32- and 64-bit float, plain and WAVE_FORMAT_EXTENSIBLE', () => {
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(0.25, 0);
    f32.writeFloatLE(-0.75, 4);
    assert.deepEqual([...(parseWav(wav(f32, { tag: 3, bits: 32 })).channelData[0] ?? [])], [0.25, -0.75]);
    const f64 = Buffer.alloc(8);
    f64.writeDoubleLE(0.125, 0);
    assert.deepEqual([...(parseWav(wav(f64, { tag: 3, bits: 64 })).channelData[0] ?? [])], [0.125]);
    const extensible = wav(f32, { bits: 32, extensibleSubformat: 3 });
    assert.deepEqual([...(parseWav(extensible).channelData[0] ?? [])], [0.25, -0.75]);
  });

  it('skips unknown chunks, including odd-sized ones with a pad byte', () => {
    const payload = Buffer.alloc(4);
    payload.writeInt16LE(8192, 0);
    payload.writeInt16LE(-8192, 2);
    const parsed = parseWav(
      wav(payload, {
        chunksBeforeData: [
          { id: 'LIST', body: Buffer.from('INFOabc') },
          { id: 'junk', body: Buffer.alloc(3) },
        ],
      }),
    );
    assert.deepEqual([...(parsed.channelData[0] ?? [])], [0.25, -0.25]);
  });

  it('reads to the end when the data size is unknown (0xFFFFFFFF) or larger than the file', () => {
    const payload = Buffer.alloc(6);
    payload.writeInt16LE(16384, 0);
    for (const dataSize of [0xffffffff, 1_000_000]) {
      const parsed = parseWav(wav(payload, { dataSize }));
      assert.equal(parsed.channelData[0]?.length, 3);
      assert.equal(parsed.channelData[0]?.[0], 0.5);
    }
  });

  it('drops a trailing partial frame', () => {
    assert.equal(parseWav(wav(Buffer.alloc(7), { channels: 2 })).channelData[0]?.length, 1);
  });

  it('throws an audio decode error for malformed files', () => {
    const good = wav(Buffer.alloc(4));
    assertDecodeError(() => parseWav(new Uint8Array(0)), /not a RIFF\/WAVE/);
    assertDecodeError(() => parseWav(Buffer.from('hello, this is text, not a wave file')), /not a RIFF/);
    assertDecodeError(() => parseWav(good.subarray(0, 20)), /truncated/);
    assertDecodeError(() => parseWav(good.subarray(0, 36)), /truncated|incomplete/);
    assertDecodeError(
      () => parseWav(wav(Buffer.alloc(4), { tag: 2 })),
      /unsupported WAV encoding \(format tag 0x0002/,
    );
    assertDecodeError(() => parseWav(wav(Buffer.alloc(4), { bits: 12 })), /unsupported/);
    assertDecodeError(() => parseWav(wav(Buffer.alloc(4), { channels: 0 })), /zero channels/);
    const noFmt = Buffer.from(good);
    noFmt.write('abcd', 12, 'ascii');
    assertDecodeError(() => parseWav(noFmt), /before the 'fmt ' chunk/);
  });
});

describe('wav encoding', () => {
  it('encodeWav writes 16-bit mono PCM that parseWav reads back', () => {
    const samples = Float32Array.of(0, 0.5, -0.5, 1, -1);
    const bytes = encodeWav({ sampleRate: 24000, samples });
    assert.ok(isWav(bytes));
    assert.equal(bytes.length, 44 + samples.length * 2);
    const parsed = parseWav(bytes);
    assert.equal(parsed.sampleRate, 24000);
    assert.equal(parsed.channels, 1);
    assert.deepEqual([...(parsed.channelData[0] ?? [])], [0, 0.5, -0.5, 32767 / 32768, -1]);
  });

  it('floatToS16le clips and rounds; s16leToFloat inverts it exactly', () => {
    const bytes = floatToS16le(Float32Array.of(2, -2, 0.5, 1 / 65536 + 1e-9, Number.NaN));
    const values = [0, 1, 2, 3, 4].map((i) => bytes.readInt16LE(i * 2));
    assert.deepEqual(values, [32767, -32768, 16384, 1, 0]);
    const all = new Int16Array(65536).map((_, i) => i - 32768);
    const roundTrip = floatToS16le(s16leToFloat(new Uint8Array(all.buffer)));
    assert.deepEqual(new Int16Array(roundTrip.buffer, roundTrip.byteOffset, 65536), all);
  });

  it('isWav recognises only RIFF/WAVE headers', () => {
    assert.ok(isWav(encodeWav({ sampleRate: 16000, samples: new Float32Array(1) })));
    assert.ok(!isWav(Buffer.from('RIFF\0\0\0\0AVI LIST')));
    assert.ok(!isWav(new Uint8Array(4)));
  });
});

describe('WavStreamReader', () => {
  const samples = Int16Array.from({ length: 1001 }, (_, i) => ((i * 37) % 2000) - 1000);
  const payload = new Uint8Array(samples.buffer);

  it('reads a stream cut at every byte boundary as parseWav reads the whole file', () => {
    const file = wav(payload, { rate: 22050, dataSize: 0xffffffff });
    for (const step of [1, 3, 44, 45, 4096]) {
      const reader = new WavStreamReader();
      const pieces: Float32Array[] = [];
      for (let at = 0; at < file.length; at += step) {
        pieces.push(reader.push(Buffer.from(file.subarray(at, at + step))));
      }
      const joined = Float32Array.from(pieces.flatMap((piece) => [...piece]));
      assert.equal(reader.info?.sampleRate, 22050);
      assert.deepEqual(joined, parseWav(file).channelData[0], `pieces of ${step} bytes`);
    }
  });

  it('averages channels and refuses what is not a 16-bit WAV', () => {
    const stereo = new Uint8Array(new Int16Array([1000, 3000, -2000, 0]).buffer);
    const reader = new WavStreamReader();
    assert.deepEqual(
      [...reader.push(Buffer.from(wav(stereo, { channels: 2 })))],
      [2000 / 32768, -1000 / 32768],
    );
    assert.throws(() => new WavStreamReader().push(Buffer.from('not a wave file at all, just text')), /WAV/);
    assert.throws(
      () => new WavStreamReader().push(Buffer.from(wav(new Uint8Array(8), { bits: 32 }))),
      /16-bit/,
    );
  });
});
