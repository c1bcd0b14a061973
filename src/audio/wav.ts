/**
 * RIFF/WAVE reading and writing, in process: WAV is the format engines emit and many
 * clients upload, so it should never cost an ffmpeg spawn.
 */
import { audioDecodeError } from '../core/errors.js';
import type { PcmAudio } from './pcm-audio.js';
import { MAX_SOURCE_RATE, MIN_SOURCE_RATE } from './resample.js';

export interface WavContents {
  sampleRate: number;
  channels: number;
  channelData: Float32Array[];
}

type SampleEncoding = 'int' | 'float';

interface WavLayout {
  sampleRate: number;
  channels: number;
  encoding: SampleEncoding;
  bitsPerSample: number;
  dataOffset: number;
  frameCount: number;
}

interface WavFormat {
  sampleRate: number;
  channels: number;
  encoding: SampleEncoding;
  bitsPerSample: number;
}

type SampleReader = (view: DataView, offset: number) => number;

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Streaming writers (espeak-ng --stdout, ffmpeg to a pipe) cannot seek back to fix sizes. */
const UNKNOWN_SIZE = 0xffffffff;

export function isWav(data: Uint8Array): boolean {
  if (data.length < 12) return false;
  const magic = fourCc(data, 0);
  return (magic === 'RIFF' || magic === 'RF64') && fourCc(data, 8) === 'WAVE';
}

export function parseWav(data: Uint8Array): WavContents {
  const layout = readLayout(data);
  const read = sampleReader(layout);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const bytesPerSample = layout.bitsPerSample / 8;
  const channelData = Array.from({ length: layout.channels }, () => new Float32Array(layout.frameCount));
  let offset = layout.dataOffset;
  for (let frame = 0; frame < layout.frameCount; frame++) {
    for (const channel of channelData) {
      channel[frame] = read(view, offset);
      offset += bytesPerSample;
    }
  }
  return { sampleRate: layout.sampleRate, channels: layout.channels, channelData };
}

/** Decodes straight to the channel average, so a long stereo file never exists as two float copies. */
export function parseWavMono(data: Uint8Array): PcmAudio {
  const reader = wavMonoReader(data);
  const samples = new Float32Array(reader.frameCount);
  reader.read(0, samples);
  return { sampleRate: reader.sampleRate, samples };
}

/** A WAV's frames averaged to mono, read a stretch at a time (parseWavMono reads them all). */
export interface WavMonoReader {
  readonly sampleRate: number;
  readonly frameCount: number;
  /** Fills `target` with frames `from` … `from + target.length - 1`, the values parseWavMono gives. */
  read(from: number, target: Float32Array): void;
}

/** Checks the header (throwing as parseWavMono does) and returns a reader for the samples. */
export function wavMonoReader(data: Uint8Array): WavMonoReader {
  const layout = readLayout(data);
  const read = sampleReader(layout);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const bytesPerSample = layout.bitsPerSample / 8;
  const frameBytes = bytesPerSample * layout.channels;
  const scale = 1 / layout.channels;
  // 16-bit mono, 2-byte aligned (nearly every upload): a typed view reads it several times faster.
  const int16 =
    LITTLE_ENDIAN &&
    layout.encoding === 'int' &&
    layout.bitsPerSample === 16 &&
    layout.channels === 1 &&
    (data.byteOffset + layout.dataOffset) % 2 === 0
      ? new Int16Array(data.buffer, data.byteOffset + layout.dataOffset, layout.frameCount)
      : undefined;
  return {
    sampleRate: layout.sampleRate,
    frameCount: layout.frameCount,
    read(from, target) {
      const count = Math.min(target.length, layout.frameCount - from);
      if (int16 !== undefined) {
        for (let i = 0; i < count; i++) target[i] = (int16[from + i] as number) / 32768;
        return;
      }
      let offset = layout.dataOffset + from * frameBytes;
      for (let frame = 0; frame < count; frame++) {
        let sum = 0;
        for (let channel = 0; channel < layout.channels; channel++) {
          sum += read(view, offset);
          offset += bytesPerSample;
        }
        target[frame] = sum * scale;
      }
    },
  };
}

/** 16-bit PCM mono: the most widely playable WAV. */
export function encodeWav(audio: PcmAudio): Buffer {
  const pcm = floatToS16le(audio.samples);
  return Buffer.concat([wavHeader(audio.sampleRate, pcm.length), pcm]);
}

/**
 * The 44-byte header of 16-bit mono PCM. Without `dataBytes` (a stream of unknown
 * length) the sizes are at their maximum, as streaming writers (ffmpeg to a pipe) do.
 */
export function wavHeader(sampleRate: number, dataBytes?: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(dataBytes === undefined ? UNKNOWN_SIZE : 36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(FORMAT_PCM, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes ?? UNKNOWN_SIZE, 40);
  return header;
}

/** Scales by 32768 so that s16leToFloat(floatToS16le(x)) is exact for every 16-bit value. */
export function floatToS16le(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < samples.length; i++) out.writeInt16LE(toS16(samples[i] as number), i * 2);
    return out;
  }
  // A typed-array store in a loop the JIT keeps tight is three times faster than
  // writeInt16LE per sample, which showed in every WAV response (5 ms for 14 s of
  // speech); Buffer.alloc is never pooled, so offset 0 is aligned.
  const view = new Int16Array(out.buffer, out.byteOffset, samples.length);
  for (let i = 0; i < samples.length; i++) {
    // Math.round's rounding, half up; a NaN stays NaN and is stored as 0.
    view[i] = Math.min(32767, Math.max(-32768, Math.floor((samples[i] as number) * 32768 + 0.5)));
  }
  return out;
}

function toS16(sample: number): number {
  return Math.min(32767, Math.max(-32768, Math.floor(sample * 32768 + 0.5))) || 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function s16leToFloat(data: Uint8Array): Float32Array {
  const samples = new Float32Array(data.byteLength >> 1);
  if (LITTLE_ENDIAN && data.byteOffset % 2 === 0) {
    const ints = new Int16Array(data.buffer, data.byteOffset, samples.length);
    for (let i = 0; i < samples.length; i++) samples[i] = (ints[i] as number) / 32768;
    return samples;
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
  return samples;
}

/**
 * Checks the format a WAV's first bytes declare (rate bounds, channels), for a file
 * decoded by ffmpeg rather than here; a header not complete in `head` is ffmpeg's to judge.
 */
export function assertWavHeader(head: Uint8Array): void {
  if (!isWav(head)) return;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let offset = 12;
  while (offset + 8 <= head.length) {
    const id = fourCc(head, offset);
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') {
      if (offset + 8 + 16 <= head.length) checkFormatBounds(view, offset + 8, size);
      return;
    }
    if (id === 'data') return;
    offset += 8 + size + (size & 1);
  }
}

/** readFormat's bounds; an encoding this parser lacks (µ-law, ADPCM) is fine for ffmpeg. */
function checkFormatBounds(view: DataView, offset: number, size: number): void {
  try {
    readFormat(view, offset, size);
  } catch (error) {
    if (!(error instanceof Error && /unsupported WAV encoding/.test(error.message))) throw error;
  }
}

/** What a WAV header declares, for readers that handle the samples themselves (the load tester). */
export interface WavInfo {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  readonly dataOffset: number;
  /** Capped at what the buffer holds: streamed WAVs carry a placeholder size. */
  readonly dataBytes: number;
  readonly durationSeconds: number;
}

/** The header of a WAV this module can read, or undefined for anything else. */
export function readWavInfo(data: Uint8Array): WavInfo | undefined {
  let layout: WavLayout;
  try {
    layout = readLayout(data);
  } catch {
    return undefined;
  }
  const frameBytes = (layout.bitsPerSample / 8) * layout.channels;
  return {
    sampleRate: layout.sampleRate,
    channels: layout.channels,
    bitsPerSample: layout.bitsPerSample,
    dataOffset: layout.dataOffset,
    dataBytes: layout.frameCount * frameBytes,
    durationSeconds: layout.frameCount / layout.sampleRate,
  };
}

/** Rewrites the RIFF and data sizes to what the buffer holds, so strict decoders accept a streamed WAV. */
export function withExactWavSizes(data: Buffer): Buffer {
  const info = readWavInfo(data);
  if (!info) return data;
  const fixed = Buffer.from(data.subarray(0, info.dataOffset + info.dataBytes));
  fixed.writeUInt32LE(fixed.length - 8, 4);
  fixed.writeUInt32LE(info.dataBytes, info.dataOffset - 4);
  return fixed;
}

function readLayout(data: Uint8Array): WavLayout {
  if (!isWav(data)) throw audioDecodeError('not a RIFF/WAVE file');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let format: WavFormat | undefined;
  let offset = 12;
  while (offset + 8 <= data.length) {
    const id = fourCc(data, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') format = readFormat(view, body, size);
    if (id === 'data') return dataLayout(format, body, size, data.length);
    if (body + size > data.length) throw audioDecodeError(`WAV chunk '${printable(id)}' is truncated`);
    offset = body + size + (size & 1);
  }
  throw audioDecodeError(
    format ? 'WAV file ends before its data chunk (truncated?)' : 'WAV header is truncated or incomplete',
  );
}

function dataLayout(format: WavFormat | undefined, dataOffset: number, size: number, fileLength: number) {
  if (!format) throw audioDecodeError("WAV data chunk comes before the 'fmt ' chunk");
  const available = fileLength - dataOffset;
  const byteLength = size === UNKNOWN_SIZE || size > available ? available : size;
  const frameBytes = (format.bitsPerSample / 8) * format.channels;
  return { ...format, dataOffset, frameCount: Math.floor(byteLength / frameBytes) };
}

function readFormat(view: DataView, offset: number, size: number): WavFormat {
  if (size < 16 || offset + 16 > view.byteLength) throw audioDecodeError("WAV 'fmt ' chunk is truncated");
  let tag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const bitsPerSample = view.getUint16(offset + 14, true);
  if (tag === FORMAT_EXTENSIBLE) {
    if (size < 26 || offset + 26 > view.byteLength)
      throw audioDecodeError('WAV extensible format is truncated');
    tag = view.getUint16(offset + 24, true);
  }
  if (channels === 0) throw audioDecodeError('WAV header declares zero channels');
  if (sampleRate < MIN_SOURCE_RATE || sampleRate > MAX_SOURCE_RATE) {
    throw audioDecodeError(
      `WAV header declares a sample rate of ${sampleRate} Hz; accepted rates are ${MIN_SOURCE_RATE}–${MAX_SOURCE_RATE} Hz`,
    );
  }
  return { sampleRate, channels, bitsPerSample, encoding: encodingOf(tag, bitsPerSample) };
}

function encodingOf(tag: number, bits: number): SampleEncoding {
  if (tag === FORMAT_PCM && [8, 16, 24, 32].includes(bits)) return 'int';
  if (tag === FORMAT_FLOAT && (bits === 32 || bits === 64)) return 'float';
  const hexTag = `0x${tag.toString(16).padStart(4, '0')}`;
  throw audioDecodeError(`unsupported WAV encoding (format tag ${hexTag}, ${bits}-bit)`);
}

function sampleReader(layout: WavLayout): SampleReader {
  if (layout.encoding === 'float') {
    return layout.bitsPerSample === 32
      ? (view, offset) => view.getFloat32(offset, true)
      : (view, offset) => view.getFloat64(offset, true);
  }
  switch (layout.bitsPerSample) {
    case 8:
      return (view, offset) => (view.getUint8(offset) - 128) / 128;
    case 16:
      return (view, offset) => view.getInt16(offset, true) / 32768;
    case 24:
      return (view, offset) => ((view.getInt8(offset + 2) << 16) | view.getUint16(offset, true)) / 8388608;
    default:
      return (view, offset) => view.getInt32(offset, true) / 2147483648;
  }
}

function fourCc(data: Uint8Array, offset: number): string {
  return String.fromCharCode(
    data[offset] ?? 0,
    data[offset + 1] ?? 0,
    data[offset + 2] ?? 0,
    data[offset + 3] ?? 0,
  );
}

function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Reads a 16-bit WAV as it arrives on a pipe (espeak-ng --stdout): the header once it
 * is complete, then the samples of every later piece as soon as it comes, a byte split
 * between two pieces carried over to the next. Multi-channel input is averaged to mono.
 */
export class WavStreamReader {
  #info: WavInfo | undefined;
  #pending: Buffer = Buffer.alloc(0);

  /** The header, once it has arrived. */
  get info(): WavInfo | undefined {
    return this.#info;
  }

  /** Samples made available by `chunk` (possibly none). */
  push(chunk: Buffer): Float32Array {
    let data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    if (!this.#info) {
      // A header split across pieces: wait for the rest (a RIFF header is a few dozen bytes).
      const info = data.length >= 44 ? readWavInfo(data) : undefined;
      if (!info) {
        if (data.length > 4096 || (data.length >= 12 && !isWav(data))) {
          throw audioDecodeError('not a 16-bit PCM WAV stream');
        }
        this.#pending = Buffer.from(data);
        return new Float32Array(0);
      }
      if (info.bitsPerSample !== 16) throw audioDecodeError('not a 16-bit PCM WAV stream');
      this.#info = info;
      data = data.subarray(info.dataOffset);
    }
    const frameBytes = 2 * this.#info.channels;
    const usable = data.length - (data.length % frameBytes);
    this.#pending = usable < data.length ? Buffer.from(data.subarray(usable)) : Buffer.alloc(0);
    return s16leToMono(data.subarray(0, usable), this.#info.channels);
  }
}

function s16leToMono(data: Uint8Array, channels: number): Float32Array {
  if (channels === 1) return s16leToFloat(data);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const samples = new Float32Array(data.byteLength / (2 * channels));
  const scale = 1 / (32768 * channels);
  for (let frame = 0, offset = 0; frame < samples.length; frame++) {
    let sum = 0;
    for (let channel = 0; channel < channels; channel++, offset += 2) sum += view.getInt16(offset, true);
    samples[frame] = sum * scale;
  }
  return samples;
}
