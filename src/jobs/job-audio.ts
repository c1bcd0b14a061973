/**
 * How a job's audio travels from the API node to whichever worker runs it: through
 * Redis, as 16 kHz mono 16-bit FLAC (lossless for what the engine hears, about half the
 * size of the PCM). The upload is decoded on the API node first, so a bad file is
 * refused at submission with the same 400 as the synchronous route; the worker writes
 * the FLAC to a temporary file and streams it through the same decoder.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSpooledAudio } from '../audio/decode-stream.js';
import { setFlacTotalSamples } from '../audio/encode.js';
import { FfmpegError, startFfmpegPipe } from '../audio/ffmpeg.js';
import { engineFailedError } from '../core/errors.js';

const SAMPLE_RATE = 16_000;
const IDLE_TIMEOUT_MS = 60_000;
const FLAC_ARGS = [
  ...['-f', 'f32le', '-ar', String(SAMPLE_RATE), '-ac', '1', '-i', 'pipe:0'],
  ...['-c:a', 'flac', '-sample_fmt', 's16', '-f', 'flac', 'pipe:1'],
];

export interface JobAudio {
  readonly flac: Buffer;
  readonly seconds: number;
}

/** Decoded samples (as the upload decoder yields them) → FLAC in memory, streamed through ffmpeg. */
export async function encodeJobAudio(
  chunks: AsyncIterable<Float32Array>,
  signal: AbortSignal,
): Promise<JobAudio> {
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
  return { flac, seconds: samples / SAMPLE_RATE };
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
    await sweepStale(tmpdir());
  }

  /** Runs `use` with the job's samples, streamed from a temporary file that is removed afterwards. */
  async withSamples<T>(
    flac: Buffer,
    signal: AbortSignal,
    use: (chunks: AsyncIterable<Float32Array>) => Promise<T>,
  ): Promise<T> {
    const path = join(this.#dir, randomBytes(12).toString('hex'));
    this.#users += 1;
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await writeFile(path, flac, { mode: 0o600 });
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

async function sweepStale(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(SPOOL_PREFIX)) continue;
    const pid = Number(name.slice(SPOOL_PREFIX.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
