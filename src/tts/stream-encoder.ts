/**
 * Encodes audio that arrives chunk by chunk into one continuous stream of a
 * response format, writing the bytes as soon as they exist. Raw PCM and WAV at the
 * natural tempo are written in process; everything else goes through one ffmpeg
 * process per response, fed as chunks are synthesised, so an Ogg/MP3/AAC/FLAC
 * stream is a single valid file rather than a concatenation of files.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { type AudioFormat, codecArgs, tempoArgs } from '../audio/encode.js';
import { FfmpegError, type FfmpegPipe, startFfmpegPipe } from '../audio/ffmpeg.js';
import { floatToS16le, wavHeader } from '../audio/wav.js';
import { engineFailedError } from '../core/errors.js';

export interface StreamEncoder {
  write(samples: Float32Array): Promise<void>;
  /** Flushes the encoder and waits until its last byte is written to `out`. */
  close(): Promise<void>;
  /** Stops at once (client gone, synthesis failed); safe to call twice. */
  destroy(): Promise<void>;
}

/** As long as whole-file encoding may take: a stream that neither moves nor ends is stuck. */
const IDLE_TIMEOUT_MS = 2 * 60_000;

async function writeWithBackpressure(out: Writable, data: Buffer): Promise<void> {
  if (out.destroyed) throw new Error('output closed');
  // A client that left stops the reading for good: 'close' ends the wait that 'drain' never would.
  if (!out.write(data)) {
    // The wait that loses is cancelled: left behind, its listeners pile up one per chunk.
    const done = new AbortController();
    const { signal } = done;
    await Promise.race([once(out, 'drain', { signal }), once(out, 'close', { signal })]).finally(() =>
      done.abort(),
    );
  }
}

class InProcessEncoder implements StreamEncoder {
  private headerSent = false;

  constructor(
    private readonly out: Writable,
    private readonly header: Buffer | undefined,
  ) {}

  async write(samples: Float32Array): Promise<void> {
    if (this.header && !this.headerSent) {
      this.headerSent = true;
      await writeWithBackpressure(this.out, this.header);
    }
    await writeWithBackpressure(this.out, floatToS16le(samples));
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {}
}

class FfmpegStreamEncoder implements StreamEncoder {
  private readonly ffmpeg: FfmpegPipe;

  constructor(args: string[], out: Writable) {
    this.ffmpeg = startFfmpegPipe({ args, idleTimeoutMs: IDLE_TIMEOUT_MS });
    this.ffmpeg.output.pipe(out, { end: false });
    // With nobody reading its output ffmpeg blocks on stdout and never exits, so close() would wait forever.
    out.once('close', () => this.ffmpeg.kill());
  }

  async write(samples: Float32Array): Promise<void> {
    const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
    if (!this.ffmpeg.write(data)) await this.ffmpeg.drained();
  }

  async close(): Promise<void> {
    this.ffmpeg.end();
    try {
      await this.ffmpeg.finished;
    } catch (error) {
      const detail = error instanceof FfmpegError ? error.detail : String(error);
      throw engineFailedError('ffmpeg', `streaming encoder failed: ${detail}`, error);
    }
  }

  async destroy(): Promise<void> {
    this.ffmpeg.kill();
  }
}

/** An encoder writing `format` at `sampleRate` to `out`, stretched by `tempo` (1 = as is). */
export function createStreamEncoder(
  format: AudioFormat,
  sampleRate: number,
  tempo: number,
  out: Writable,
): StreamEncoder {
  if (tempo === 1 && format === 'pcm') return new InProcessEncoder(out, undefined);
  if (tempo === 1 && format === 'wav') return new InProcessEncoder(out, wavHeader(sampleRate));
  const args = [
    ...['-f', 'f32le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0'],
    ...tempoArgs(tempo),
    ...codecArgs(format, sampleRate),
    ...['-flush_packets', '1', 'pipe:1'],
  ];
  return new FfmpegStreamEncoder(args, out);
}
