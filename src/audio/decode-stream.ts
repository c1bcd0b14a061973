/**
 * A spooled upload as 16 kHz mono samples, produced chunk by chunk while they are read,
 * so a three-hour film costs the memory of a chunk, not of its decoded audio (690 MB).
 * Raw PCM (Bazarr's `encode=false`) is converted in process straight from the file;
 * small WAVs are parsed whole in process; everything else streams out of ffmpeg.
 */
import { createReadStream } from 'node:fs';
import { audioDecodeError } from '../core/errors.js';
import {
  DEFAULT_DECODE_RATE,
  DEFAULT_MAX_SECONDS,
  decodeArgs,
  decodeAudioInSlices,
  decodeFailure,
  decoderFor,
  longerThanLimit,
  readWhole,
} from './decode.js';
import { streamFfmpeg } from './ffmpeg.js';
import { s16leToFloat } from './wav.js';

export interface SpooledAudio {
  readonly path: string;
  /** false: the file is raw 16 kHz mono s16le PCM. */
  readonly encoded: boolean;
}

export interface StreamDecodeOptions {
  readonly signal: AbortSignal;
  /** Longest decoded audio accepted. */
  readonly maxSeconds?: number;
  /** Longest ffmpeg may take to produce its next bytes. */
  readonly stallMs?: number;
}

const RAW_READ_BYTES = 1024 * 1024;
const DEFAULT_STALL_MS = 60_000;

/** The samples in order, in chunks of any length; a chunk is the caller's to keep. */
export async function* decodeSpooledAudio(
  source: SpooledAudio,
  options: StreamDecodeOptions,
): AsyncGenerator<Float32Array> {
  const maxSamples = (options.maxSeconds ?? DEFAULT_MAX_SECONDS) * DEFAULT_DECODE_RATE;
  let total = 0;
  const chunks = source.encoded ? decodeEncoded(source.path, options) : readRawPcm16(source.path, options);
  for await (const chunk of chunks) {
    total += chunk.length;
    if (total > maxSamples) throw audioDecodeError(longerThanLimit(maxSamples / DEFAULT_DECODE_RATE));
    if (chunk.length > 0) yield chunk;
  }
  if (total === 0) {
    throw audioDecodeError(source.encoded ? 'the file contains no audio samples' : 'the PCM data is empty');
  }
}

/** s16le → float, carrying an odd byte from one read to the next. */
async function* readRawPcm16(path: string, options: StreamDecodeOptions): AsyncGenerator<Float32Array> {
  const file = createReadStream(path, { highWaterMark: RAW_READ_BYTES, signal: options.signal });
  let carry: number | undefined;
  try {
    for await (const read of file as AsyncIterable<Buffer>) {
      let bytes = read;
      if (carry !== undefined) bytes = Buffer.concat([Buffer.of(carry), read]);
      carry = bytes.length % 2 === 1 ? bytes[bytes.length - 1] : undefined;
      yield s16leToFloat(bytes.subarray(0, bytes.length - (bytes.length % 2)));
    }
  } catch (error) {
    options.signal.throwIfAborted();
    throw audioDecodeError('the file could not be read', error);
  }
}

async function* decodeEncoded(path: string, options: StreamDecodeOptions): AsyncGenerator<Float32Array> {
  if ((await decoderFor(path)) === 'ffmpeg') {
    yield* streamFromFfmpeg(path, options);
    return;
  }
  // decoderFor has already looked at the head: the bytes go straight to the WAV parser, which
  // hands the samples over in slices so that the event loop is never held for long.
  const data = await readWhole(path);
  yield* decodeAudioInSlices(data, { signal: options.signal, maxSeconds: options.maxSeconds });
}

/** ffmpeg's f32le output as Float32Arrays, carrying the bytes of a sample split across reads. */
async function* streamFromFfmpeg(path: string, options: StreamDecodeOptions): AsyncGenerator<Float32Array> {
  let carry = Buffer.alloc(0);
  try {
    for await (const read of streamFfmpeg({
      args: decodeArgs({ path }, DEFAULT_DECODE_RATE),
      signal: options.signal,
      stallMs: options.stallMs ?? DEFAULT_STALL_MS,
      redact: [`file:${path}`, path],
    })) {
      const bytes = carry.length > 0 ? Buffer.concat([carry, read]) : read;
      const whole = bytes.length - (bytes.length % 4);
      // A fresh, aligned copy: the pipe's buffers are pooled and not 4-byte aligned.
      const samples = new Float32Array(whole >> 2);
      new Uint8Array(samples.buffer).set(bytes.subarray(0, whole));
      carry = Buffer.from(bytes.subarray(whole));
      yield samples;
    }
  } catch (error) {
    options.signal.throwIfAborted();
    throw decodeFailure(error, { maxSeconds: options.maxSeconds ?? DEFAULT_MAX_SECONDS });
  }
}
