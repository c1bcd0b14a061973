/**
 * How a job's audio travels from the API node to whichever worker runs it: through
 * Redis. The upload is decoded on the API node first, so a bad file is refused at
 * submission with the same 400 as the synchronous route. Its 16 kHz mono samples then
 * travel as 16-bit FLAC (lossless for what the engine hears, about half the size of the
 * PCM) or, for a clip under SHORT_SECONDS, with no ffmpeg start on either side:
 * - a job's clip as gzipped 16-bit PCM (compact while it waits in Redis);
 * - a synchronous request's clip (ASR_DISPATCH=queue) as the decoded 32-bit float samples
 *   themselves: no compression on the API node, no decoding and no temporary file on the
 *   worker (what the request waits for), and the engine hears exactly what a local
 *   transcription would. At most 1.9 MB each, and MAX_QUEUE_SIZE of them wait at most.
 * The worker feeds short clips to the engine from memory; FLAC goes through a temporary
 * file and the same decoder as an upload.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { decodeSpooledAudio } from '../audio/decode-stream.js';
import { setFlacTotalSamples } from '../audio/encode.js';
import { FfmpegError, startFfmpegPipe } from '../audio/ffmpeg.js';
import { floatToS16le, s16leToFloat } from '../audio/wav.js';
import { audioDecodeError, engineFailedError } from '../core/errors.js';
import { sweepStaleSpools } from '../core/stale-spools.js';

const SAMPLE_RATE = 16_000;
/** Clips shorter than this travel without ffmpeg (at most 960 KB of 16-bit, 1.9 MB of float samples). */
const SHORT_SECONDS = 30;
/** Marks a clip of raw little-endian float32 samples (neither FLAC's `fLaC` nor gzip's 1f 8b). */
const FLOAT_MAGIC = Buffer.from('VSF32LE\0', 'latin1');
const IDLE_TIMEOUT_MS = 60_000;
const FLAC_ARGS = [
  ...['-f', 'f32le', '-ar', String(SAMPLE_RATE), '-ac', '1', '-i', 'pipe:0'],
  ...['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac', 'pipe:1'],
];
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface JobAudio {
  /** FLAC (starts `fLaC`), gzipped s16le PCM (starts 1f 8b) or FLOAT_MAGIC + f32le samples. */
  readonly data: Buffer;
  readonly seconds: number;
}

/** How a clip under SHORT_SECONDS travels: `compact` for jobs, `float` for a request waiting on it. */
export type ShortClipForm = 'compact' | 'float';

/** Decoded samples (as the upload decoder yields them) → what travels through Redis, in memory. */
export async function encodeJobAudio(
  chunks: AsyncIterable<Float32Array>,
  signal: AbortSignal,
  short: ShortClipForm = 'compact',
): Promise<JobAudio> {
  const iterator = chunks[Symbol.asyncIterator]();
  const head: Float32Array[] = [];
  let headSamples = 0;
  while (headSamples < SHORT_SECONDS * SAMPLE_RATE) {
    const next = await iterator.next();
    if (next.done) {
      const seconds = headSamples / SAMPLE_RATE;
      if (short === 'float') return { data: floatClip(head), seconds };
      const pcm = Buffer.concat(head.map((chunk) => floatToS16le(chunk)));
      return { data: await gzipAsync(pcm, { level: 1 }), seconds };
    }
    head.push(next.value);
    headSamples += next.value.length;
  }
  return encodeFlac(resume(head, iterator), signal);
}

async function* resume(
  head: Float32Array[],
  rest: AsyncIterator<Float32Array>,
): AsyncGenerator<Float32Array> {
  yield* head;
  while (true) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/** Streamed through ffmpeg: the whole PCM is never held. */
async function encodeFlac(chunks: AsyncIterable<Float32Array>, signal: AbortSignal): Promise<JobAudio> {
  const pipe = startFfmpegPipe({ args: FLAC_ARGS, idleTimeoutMs: IDLE_TIMEOUT_MS });
  const output: Buffer[] = [];
  pipe.output.on('data', (chunk: Buffer) => output.push(chunk));
  const kill = () => pipe.kill();
  signal.addEventListener('abort', kill, { once: true });
  let samples = 0;
  try {
    for await (const chunk of chunks) {
      samples += chunk.length;
      if (!pipe.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) await pipe.drained();
    }
    pipe.end();
    await pipe.finished;
  } catch (error) {
    pipe.kill();
    signal.throwIfAborted();
    if (error instanceof FfmpegError)
      throw engineFailedError('ffmpeg', `FLAC encoding failed: ${error.detail}`);
    throw error;
  } finally {
    signal.removeEventListener('abort', kill);
  }
  const flac = Buffer.concat(output);
  setFlacTotalSamples(flac, samples);
  return { data: flac, seconds: samples / SAMPLE_RATE };
}

function floatClip(chunks: readonly Float32Array[]): Buffer {
  return Buffer.concat([
    FLOAT_MAGIC,
    ...chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
  ]);
}

const isGzip = (data: Buffer) => data[0] === 0x1f && data[1] === 0x8b;
const isFloatClip = (data: Buffer) => data.subarray(0, FLOAT_MAGIC.length).equals(FLOAT_MAGIC);

/** A short clip's samples, from memory; undefined for FLAC (which needs ffmpeg). */
async function shortClipSamples(audio: Buffer): Promise<Float32Array | undefined> {
  if (isFloatClip(audio)) {
    // A fresh, aligned copy: a Redis reply's bytes sit at any offset of a shared buffer.
    const samples = new Float32Array((audio.length - FLOAT_MAGIC.length) >> 2);
    new Uint8Array(samples.buffer).set(
      audio.subarray(FLOAT_MAGIC.length, FLOAT_MAGIC.length + samples.byteLength),
    );
    return samples;
  }
  if (isGzip(audio)) return s16leToFloat(await gunzipAsync(audio));
  return undefined;
}

const SPOOL_PREFIX = 'voice-stack-jobs-';

/**
 * Where a worker puts the audio of the jobs it runs: a folder that exists only while a job
 * does, so only a process killed mid-job leaves one, and the next worker start sweeps it.
 */
export class JobAudioSpool {
  readonly #dir = join(tmpdir(), `${SPOOL_PREFIX}${process.pid}`);
  #users = 0;

  async open(): Promise<void> {
    await sweepStaleSpools(tmpdir(), SPOOL_PREFIX);
  }

  /**
   * Runs `use` with the job's samples: a short clip's from memory, FLAC's streamed from a
   * temporary file that is removed afterwards.
   */
  async withSamples<T>(
    audio: Buffer,
    signal: AbortSignal,
    use: (chunks: AsyncIterable<Float32Array>) => Promise<T>,
  ): Promise<T> {
    const samples = await shortClipSamples(audio);
    if (samples !== undefined) {
      if (samples.length === 0) throw audioDecodeError('the job audio is empty');
      return use(single(samples));
    }
    const path = join(this.#dir, randomBytes(12).toString('hex'));
    this.#users += 1;
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await writeFile(path, audio, { mode: 0o600 });
      return await use(decodeSpooledAudio({ path, encoded: true }, { signal }));
    } finally {
      await rm(path, { force: true });
      this.#users -= 1;
      if (this.#users === 0) await rm(this.#dir, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    if (this.#users === 0) await rm(this.#dir, { recursive: true, force: true });
  }
}

async function* single(samples: Float32Array): AsyncGenerator<Float32Array> {
  yield samples;
}
