import { MAX_SOURCE_RATE, MIN_SOURCE_RATE, resample } from '../audio/resample.js';
import { audioDecodeError } from '../core/errors.js';
import { type EventData, type PcmFormat, sameFormat } from './wyoming-event.js';

const MAX_CHANNELS = 32;

/** `rate`, `width` and `channels` of an audio event, checked; throws a 400-kind error naming the field. */
export function pcmFormatOf(data: EventData): PcmFormat {
  const { rate, width, channels } = data;
  if (!Number.isInteger(rate) || (rate as number) < MIN_SOURCE_RATE || (rate as number) > MAX_SOURCE_RATE) {
    throw audioDecodeError(
      `'rate' must be a whole number of Hz from ${MIN_SOURCE_RATE} to ${MAX_SOURCE_RATE}`,
    );
  }
  if (width !== 1 && width !== 2 && width !== 3 && width !== 4) {
    throw audioDecodeError(`'width' must be 1, 2, 3 or 4 bytes per sample`);
  }
  if (!Number.isInteger(channels) || (channels as number) < 1 || (channels as number) > MAX_CHANNELS) {
    throw audioDecodeError(`'channels' must be from 1 to ${MAX_CHANNELS}`);
  }
  return { rate: rate as number, width, channels: channels as number };
}

/** Interleaved PCM of any width and channel count, as mono samples in [-1, 1]. */
export function pcmToMono(bytes: Buffer, format: PcmFormat): Float32Array {
  const frameBytes = format.width * format.channels;
  if (bytes.length % frameBytes !== 0) {
    throw audioDecodeError(
      `audio-chunk of ${bytes.length} bytes is not whole frames of ${format.channels} × ${format.width} bytes`,
    );
  }
  const frames = bytes.length / frameBytes;
  const out = new Float32Array(frames);
  for (let frame = 0; frame < frames; frame += 1) {
    let sum = 0;
    for (let channel = 0; channel < format.channels; channel += 1) {
      sum += readSample(bytes, (frame * format.channels + channel) * format.width, format.width);
    }
    out[frame] = sum / format.channels;
  }
  return out;
}

function readSample(bytes: Buffer, offset: number, width: number): number {
  switch (width) {
    case 1:
      return ((bytes[offset] as number) - 128) / 128;
    case 2:
      return bytes.readInt16LE(offset) / 32768;
    case 3:
      return bytes.readIntLE(offset, 3) / 8388608;
    default:
      return bytes.readInt32LE(offset) / 2147483648;
  }
}

interface Run {
  readonly format: PcmFormat;
  readonly pieces: Float32Array[];
  samples: number;
}

/**
 * The audio of one utterance as it arrives in `audio-chunk`s, each in its own format.
 * Chunks are kept at their own rate and resampled once at the end (resampling each
 * 20 ms chunk alone would click at every seam); a change of format starts a new run.
 * Bounded by `maxSeconds`: past it, `append` throws.
 */
export class UtteranceAudio {
  private readonly runs: Run[] = [];
  private seconds = 0;

  constructor(
    private readonly targetRate: number,
    private readonly maxSeconds: number,
  ) {}

  get durationSeconds(): number {
    return this.seconds;
  }

  append(bytes: Buffer, format: PcmFormat): void {
    const samples = pcmToMono(bytes, format);
    this.seconds += samples.length / format.rate;
    if (this.seconds > this.maxSeconds) {
      throw audioDecodeError(
        `the utterance is longer than ${this.maxSeconds} s, the most one transcribe takes`,
      );
    }
    let run = this.runs.at(-1);
    if (run === undefined || !sameFormat(run.format, format)) {
      run = { format, pieces: [], samples: 0 };
      this.runs.push(run);
    }
    run.pieces.push(samples);
    run.samples += samples.length;
  }

  /** Everything received, mono at the target rate. */
  samples(): Float32Array {
    const converted = this.runs.map((run) =>
      resample(concat(run.pieces, run.samples), run.format.rate, this.targetRate),
    );
    return concat(
      converted,
      converted.reduce((n, s) => n + s.length, 0),
    );
  }
}

function concat(pieces: readonly Float32Array[], total: number): Float32Array {
  if (pieces.length === 1) return pieces[0] as Float32Array;
  const out = new Float32Array(total);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
