/**
 * Encodes audio that arrives chunk by chunk into one continuous stream of a
 * response format, writing the bytes as soon as they exist. Raw PCM and WAV at the
 * natural tempo are written in process; everything else goes through one ffmpeg
 * process per response, fed as chunks are synthesised, so an Ogg/MP3/AAC/FLAC
 * stream is a single valid file rather than a concatenation of files.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { type AudioFormat, atempoChain } from '../audio/encode.js';
import { floatToS16le } from '../audio/wav.js';
import { engineFailedError } from '../core/errors.js';

export interface StreamEncoder {
  write(samples: Float32Array): Promise<void>;
  /** Flushes the encoder and waits until its last byte is written to `out`. */
  end(): Promise<void>;
  /** Stops at once (client gone, synthesis failed); safe to call twice. */
  destroy(): void;
}

const MP3_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
const AAC_RATES = [7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/** The same codecs and settings as audio/encode.ts uses for whole files. */
function codecArgs(format: AudioFormat, sampleRate: number): string[] {
  const rate = (rates: number[]) => String(rates.find((r) => r >= sampleRate) ?? 48000);
  switch (format) {
    case 'mp3':
      return ['-c:a', 'libmp3lame', '-b:a', '128k', '-ar', rate(MP3_RATES), '-f', 'mp3'];
    case 'opus':
      return ['-c:a', 'libopus', '-b:a', '64k', '-ar', '48000', '-f', 'ogg'];
    case 'aac':
      return ['-c:a', 'aac', '-b:a', '128k', '-ar', rate(AAC_RATES), '-f', 'adts'];
    case 'flac':
      return ['-c:a', 'flac', '-f', 'flac'];
    case 'wav':
      return ['-c:a', 'pcm_s16le', '-f', 'wav'];
    case 'pcm':
      return ['-c:a', 'pcm_s16le', '-f', 's16le'];
  }
}

/** A WAV header for a stream of unknown length: sizes at their maximum, as streaming encoders write. */
export function streamingWavHeader(sampleRate: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(0xffffffff, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(0xffffffff, 40);
  return header;
}

async function writeWithBackpressure(out: Writable, data: Buffer): Promise<void> {
  if (out.destroyed) throw new Error('output closed');
  // A client that left stops the reading for good: 'close' ends the wait that 'drain' never would.
  if (!out.write(data)) await Promise.race([once(out, 'drain'), once(out, 'close')]);
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

  async end(): Promise<void> {}

  destroy(): void {}
}

class FfmpegStreamEncoder implements StreamEncoder {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly closed: Promise<number | null>;
  private stderr = '';

  constructor(args: string[], out: Writable) {
    this.child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => {});
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2000);
    });
    this.child.stdout.pipe(out, { end: false });
    // With nobody reading its output ffmpeg blocks on stdout and never exits, so end() would wait forever.
    out.once('close', () => this.child.kill('SIGKILL'));
    this.closed = new Promise((resolve) => {
      this.child.once('close', (code) => resolve(code));
      this.child.once('error', () => resolve(-1));
    });
  }

  async write(samples: Float32Array): Promise<void> {
    const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
    if (!this.child.stdin.write(data)) {
      await Promise.race([once(this.child.stdin, 'drain'), this.closed]);
    }
  }

  async end(): Promise<void> {
    this.child.stdin.end();
    const code = await this.closed;
    if (code !== 0) {
      const detail = this.stderr.trim().split('\n').pop() ?? `exit code ${code}`;
      throw engineFailedError('ffmpeg', `streaming encoder failed: ${detail}`);
    }
  }

  destroy(): void {
    this.child.kill('SIGKILL');
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
  if (tempo === 1 && format === 'wav') return new InProcessEncoder(out, streamingWavHeader(sampleRate));
  const args = [
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    '-f',
    'f32le',
    '-ar',
    String(sampleRate),
    '-ac',
    '1',
    '-i',
    'pipe:0',
    ...(tempo === 1 ? [] : ['-af', atempoChain(tempo)]),
    ...codecArgs(format, sampleRate),
    '-flush_packets',
    '1',
    'pipe:1',
  ];
  return new FfmpegStreamEncoder(args, out);
}
