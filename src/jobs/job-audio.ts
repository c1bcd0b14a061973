/**
 * How a job's audio travels from the API node to whichever worker runs it: through
 * Redis, compressed. The upload is decoded on the API node first, so a bad file is refused
 * at submission with the same 400 as the synchronous route. Its 16 kHz mono samples then
 * travel as 16-bit FLAC (lossless for what the engine hears, about half the size of the
 * PCM) or, for a clip under SHORT_SECONDS, as gzipped 16-bit PCM: no ffmpeg start on
 * either side, which a short synchronous request dispatched to the fleet would feel. The
 * worker writes it to a temporary file and streams it through the same decoder.
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
import { floatToS16le } from '../audio/wav.js';
import { engineFailedError } from '../core/errors.js';
import { sweepStaleSpools } from '../core/stale-spools.js';

const SAMPLE_RATE = 16_000;
/** Clips shorter than this travel as gzipped PCM (at most 1 MB before compression). */
const SHORT_SECONDS = 30;
const IDLE_TIMEOUT_MS = 60_000;
const FLAC_ARGS = [
  ...['-f', 'f32le', '-ar', String(SAMPLE_RATE), '-ac', '1', '-i', 'pipe:0'],
  ...['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac', 'pipe:1'],
];
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface JobAudio {
  /** FLAC (starts `fLaC`) or gzipped s16le PCM (starts 1f 8b). */
  readonly data: Buffer;
  readonly seconds: number;
}

/** Decoded samples (as the upload decoder yields them) → compressed, in memory. */
export async function encodeJobAudio(
  chunks: AsyncIterable<Float32Array>,
  signal: AbortSignal,
): Promise<JobAudio> {
  const iterator = chunks[Symbol.asyncIterator]();
  const head: Float32Array[] = [];
  let headSamples = 0;
  while (headSamples < SHORT_SECONDS * SAMPLE_RATE) {
    const next = await iterator.next();
    if (next.done) {
      const pcm = Buffer.concat(head.map((chunk) => floatToS16le(chunk)));
      return { data: await gzipAsync(pcm, { level: 1 }), seconds: headSamples / SAMPLE_RATE };
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

const isGzip = (data: Buffer) => data[0] === 0x1f && data[1] === 0x8b;

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

  /** Runs `use` with the job's samples, streamed from a temporary file that is removed afterwards. */
  async withSamples<T>(
    audio: Buffer,
    signal: AbortSignal,
    use: (chunks: AsyncIterable<Float32Array>) => Promise<T>,
  ): Promise<T> {
    const encoded = !isGzip(audio);
    const path = join(this.#dir, randomBytes(12).toString('hex'));
    this.#users += 1;
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await writeFile(path, encoded ? audio : await gunzipAsync(audio), { mode: 0o600 });
      return await use(decodeSpooledAudio({ path, encoded }, { signal }));
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
