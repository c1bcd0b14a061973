/**
 * The one way Voice Stack runs ffmpeg: a child process started from an argument array
 * (never a shell), fed from memory, its stdout collected, killed on abort or time-out,
 * and its failures described from the last lines ffmpeg printed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { AppError } from '../core/errors.js';

const FFMPEG = 'ffmpeg';
const STDERR_KEEP_CHARS = 8192;
const DETAIL_LINES = 3;

export type FfmpegFailure = 'not-installed' | 'exit' | 'timeout' | 'output-limit';

const FFMPEG_CODES: Record<FfmpegFailure, string> = {
  'not-installed': 'VS_ERR_FFMPEG_NOT_INSTALLED',
  exit: 'VS_ERR_FFMPEG_EXIT',
  timeout: 'VS_ERR_FFMPEG_TIMEOUT',
  'output-limit': 'VS_ERR_FFMPEG_OUTPUT_LIMIT',
};

export class FfmpegError extends AppError {
  readonly failure: FfmpegFailure;
  /** What went wrong in words a user can act on: ffmpeg's own last lines, cleaned. */
  readonly detail: string;

  constructor(failure: FfmpegFailure, detail: string) {
    super(FFMPEG_CODES[failure], `ffmpeg ${failure}: ${detail}`);
    this.failure = failure;
    this.detail = detail;
  }
}

export interface FfmpegRun {
  /** Arguments after the common `-hide_banner -loglevel error`. */
  args: readonly string[];
  /** Written to ffmpeg's stdin (read it with `-i pipe:0`); stdin is closed when absent. */
  stdin?: Uint8Array;
  signal?: AbortSignal;
  timeoutMs: number;
  /** Stop ffmpeg once it has written more than this; protects memory against huge outputs. */
  maxOutputBytes?: number;
  /** Strings (such as a file path) that must not appear in error details. */
  redact?: readonly string[];
}

/** Resolves with everything ffmpeg wrote to stdout, in a fresh, exactly sized buffer. */
export function runFfmpeg(run: FfmpegRun): Promise<Uint8Array> {
  if (run.signal?.aborted) return Promise.reject(run.signal.reason);
  return new Promise((resolve, reject) => new FfmpegProcess(run, resolve, reject).start());
}

/**
 * Demuxers an upload may be read with: containers that hold their audio inside the one input.
 * Left out on purpose, because their bytes can name other inputs: hls/dash/m3u and every other
 * playlist, concat/ffconcat, image2 and other sequence readers, subfile, tee, data/lavfi
 * sources. Whatever an upload starts with (ID3, BOM, blank lines), ffmpeg refuses a probed
 * format that is not on this list before it opens anything the upload names; nested opens
 * inherit both lists. mov's external references (drefs) are off by default and stay off.
 */
export const UPLOAD_DEMUXERS: readonly string[] = [
  'aac',
  'ac3',
  'aiff',
  'amr',
  'ape',
  'asf',
  'au',
  'avi',
  'caf',
  'dsf',
  'eac3',
  'flac',
  'flv',
  'matroska',
  'mov',
  'mp3',
  'mpc',
  'mpc8',
  'mpeg',
  'mpegts',
  'ogg',
  'tta',
  'voc',
  'w64',
  'wav',
  'wv',
];

export type RestrictedInput = { path: string } | 'stdin';

/**
 * The only way an upload is handed to ffmpeg: one input (the spooled file or stdin), one
 * protocol to reach it, and a demuxer allow-list, so uploaded bytes can never make ffmpeg
 * read another file, URL or spool entry. `-protocol_whitelist file` alone would not do: `file:`
 * is exactly what a playlist abuses.
 */
export function restrictedInputArgs(input: RestrictedInput): string[] {
  const fromStdin = input === 'stdin';
  return [
    ...['-protocol_whitelist', fromStdin ? 'pipe' : 'file'],
    ...['-format_whitelist', UPLOAD_DEMUXERS.join(',')],
    ...['-i', fromStdin ? 'pipe:0' : `file:${input.path}`],
  ];
}

let availability: Promise<boolean> | undefined;

export function ffmpegAvailable(): Promise<boolean> {
  availability ??= new Promise((resolve) => {
    const child = spawn(FFMPEG, ['-version'], { stdio: 'ignore', windowsHide: true });
    child.once('error', () => resolve(false));
    child.once('close', (code) => resolve(code === 0));
  });
  return availability;
}

type StopReason = { kind: 'aborted'; reason: unknown } | { kind: 'timeout' | 'output-limit' };

class FfmpegProcess {
  private readonly chunks: Buffer[] = [];
  private outputBytes = 0;
  private stderr = '';
  private stopReason: StopReason | undefined;
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  private child: ReturnType<typeof spawn> | undefined;

  constructor(
    private readonly run: FfmpegRun,
    private readonly resolve: (output: Uint8Array) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(): void {
    const args = ['-hide_banner', '-nostats', '-loglevel', 'error', ...this.run.args];
    const child = spawn(FFMPEG, args, {
      stdio: [this.run.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.child = child;
    child.once('error', (error: NodeJS.ErrnoException) => this.onSpawnError(error));
    child.once('close', (code, signal) => this.onClose(code, signal));
    child.stdout?.on('data', (chunk: Buffer) => this.onOutput(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.onStderr(chunk));
    this.feedStdin();
    this.timer = setTimeout(() => this.stop({ kind: 'timeout' }), this.run.timeoutMs);
    this.run.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private feedStdin(): void {
    const stdin = this.child?.stdin;
    if (!stdin || !this.run.stdin) return;
    // ffmpeg may exit before reading all input (bad data, early error): EPIPE is expected, the exit code tells.
    stdin.on('error', () => {});
    const input = this.run.stdin;
    stdin.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  }

  private readonly onAbort = (): void => {
    this.stop({ kind: 'aborted', reason: this.run.signal?.reason });
  };

  private onOutput(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.outputBytes += chunk.length;
    const limit = this.run.maxOutputBytes;
    if (limit !== undefined && this.outputBytes > limit) this.stop({ kind: 'output-limit' });
  }

  private onStderr(chunk: Buffer): void {
    this.stderr = (this.stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_CHARS);
  }

  private stop(reason: StopReason): void {
    if (this.stopReason || this.settled) return;
    this.stopReason = reason;
    this.child?.kill('SIGKILL');
  }

  private onSpawnError(error: NodeJS.ErrnoException): void {
    this.settle(spawnFailure(error));
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    this.settle(this.failureOnClose(code, signal));
  }

  /** Why the run failed, or undefined when ffmpeg finished on its own and succeeded. */
  private failureOnClose(code: number | null, signal: NodeJS.Signals | null): unknown {
    const reason = this.stopReason;
    if (reason?.kind === 'aborted') return abortError(reason.reason);
    if (reason?.kind === 'timeout') {
      return new FfmpegError('timeout', `took longer than ${Math.round(this.run.timeoutMs / 1000)}s`);
    }
    if (reason?.kind === 'output-limit') return new FfmpegError('output-limit', 'output is too large');
    if (code !== 0) return exitFailure(this.stderr, this.run.redact, code, signal);
    return undefined;
  }

  private settle(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.run.signal?.removeEventListener('abort', this.onAbort);
    if (error !== undefined) {
      this.chunks.length = 0;
      this.reject(error);
      return;
    }
    this.resolve(concatExact(this.chunks, this.outputBytes));
  }
}

/** One copy into a fresh ArrayBuffer: exact size (nothing over-allocated is kept) and 8-byte aligned. */
function concatExact(chunks: Buffer[], total: number): Uint8Array {
  const output = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    output.set(chunk, offset);
    offset += chunk.length;
    chunks[i] = EMPTY;
  }
  chunks.length = 0;
  return output;
}

const EMPTY = Buffer.alloc(0);
const noop = (): void => {};

function abortError(reason: unknown): unknown {
  return reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** ffmpeg's lines without its `[codec @ 0x…]` prefixes, input names or redacted strings. */
export function cleanStderr(stderr: string, redact: readonly string[]): string[] {
  return stderr
    .split(/\r?\n/)
    .map((line) => {
      let text = line.replace(/\[[^\]]*@ 0x[0-9a-f]+\]\s*/gi, '');
      for (const secret of redact) if (secret) text = text.split(secret).join('input');
      return text.replace(/^pipe:[01]:\s*/, '').trim();
    })
    .filter((line) => line.length > 0);
}

export interface FfmpegStream {
  /** Arguments after the common `-hide_banner -loglevel error`; no stdin. */
  args: readonly string[];
  signal?: AbortSignal;
  /**
   * Longest ffmpeg may take to produce its next bytes while they are awaited. Time the
   * reader spends elsewhere (transcribing what it got) does not count: a three-hour
   * decode paced by a slow model is not a stalled one.
   */
  stallMs: number;
  redact?: readonly string[];
}

/**
 * ffmpeg's stdout as it is produced, paced by the reader (a full pipe pauses ffmpeg), so
 * a long decode never sits in memory whole. Ends when ffmpeg exits cleanly; throws an
 * FfmpegError otherwise. Leaving the loop early kills ffmpeg.
 */
export async function* streamFfmpeg(run: FfmpegStream): AsyncGenerator<Buffer> {
  run.signal?.throwIfAborted();
  const args = ['-hide_banner', '-nostats', '-loglevel', 'error', ...run.args];
  const child = spawn(FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_CHARS);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );
  const kill = () => child.kill('SIGKILL');
  run.signal?.addEventListener('abort', kill, { once: true });
  const chunks = child.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    while (true) {
      const next = await withStallLimit(chunks.next(), run.stallMs, kill);
      if (next.done) break;
      yield next.value;
    }
    const { code, signal, error } = await exited;
    run.signal?.throwIfAborted();
    if (error) throw spawnFailure(error as NodeJS.ErrnoException);
    if (code !== 0) throw exitFailure(stderr, run.redact, code, signal);
  } catch (error) {
    // Killed because the client went away: that is the reason to report, not the exit.
    run.signal?.throwIfAborted();
    throw error;
  } finally {
    run.signal?.removeEventListener('abort', kill);
    kill();
  }
}

/** A failed exit, told by ffmpeg's own last lines (cleaned and redacted), else by its status. */
function exitFailure(
  stderr: string,
  redact: readonly string[] | undefined,
  code: number | null,
  signal: NodeJS.Signals | null,
): FfmpegError {
  const lines = cleanStderr(stderr, redact ?? []);
  if (lines.length > 0) return new FfmpegError('exit', lines.slice(-DETAIL_LINES).join('; '));
  return new FfmpegError(
    'exit',
    signal ? `ffmpeg was killed by ${signal}` : `ffmpeg exited with code ${code}`,
  );
}

function spawnFailure(error: NodeJS.ErrnoException): FfmpegError {
  return error.code === 'ENOENT'
    ? new FfmpegError('not-installed', 'ffmpeg is not installed or not on PATH')
    : new FfmpegError('exit', `could not start ffmpeg (${error.code})`);
}

/** Resolves as `pending` does, unless it takes longer than `ms`: then `onStall` runs and it throws. */
async function withStallLimit<T>(pending: Promise<T>, ms: number, onStall: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      onStall();
      reject(new FfmpegError('timeout', `produced nothing for ${Math.round(ms / 1000)}s`));
    }, ms);
  });
  try {
    return await Promise.race([pending, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

export interface FfmpegPipeRun {
  /** Arguments after the common `-hide_banner -loglevel error`; input on `pipe:0`, output on `pipe:1`. */
  args: readonly string[];
  /**
   * Longest ffmpeg may go without being fed or producing output. A stream is fed as
   * fast as a voice is synthesised, so a bound on the whole run would cut long speech.
   */
  idleTimeoutMs: number;
  redact?: readonly string[];
}

/** A running ffmpeg fed through `input` as its producer goes, writing to `output`. */
export interface FfmpegPipe {
  /** Feeds ffmpeg; false when its input is full, as Writable.write. */
  write(chunk: Buffer): boolean;
  /** Resolves once ffmpeg can take more input (or has exited). */
  drained(): Promise<void>;
  /** No more input: ffmpeg flushes and exits. */
  end(): void;
  readonly output: Readable;
  /** Settles when ffmpeg has exited: resolves on success, rejects with an FfmpegError otherwise. */
  readonly finished: Promise<void>;
  /** Stops ffmpeg at once; safe to call twice. */
  kill(): void;
}

export function startFfmpegPipe(run: FfmpegPipeRun): FfmpegPipe {
  const args = ['-hide_banner', '-nostats', '-loglevel', 'error', ...run.args];
  const child = spawn(FFMPEG, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  let stderr = '';
  let failure: FfmpegError | undefined;
  let timer: NodeJS.Timeout | undefined;
  const kill = () => child.kill('SIGKILL');
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      failure ??= new FfmpegError('timeout', `idle for longer than ${Math.round(run.idleTimeoutMs / 1000)}s`);
      kill();
    }, run.idleTimeoutMs);
  };
  // ffmpeg may exit before reading all input (bad data, killed): the exit status tells why.
  child.stdin.on('error', () => {});
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_CHARS);
  });
  child.stdout.on('data', touch);
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      failure ??= spawnFailure(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code === 0) return resolve();
      reject(exitFailure(stderr, run.redact, code, signal));
    });
  });
  // Nobody may be awaiting `finished` when the stream is cut: that is not an unhandled rejection.
  finished.catch(() => {});
  touch();
  const input: Writable = child.stdin;
  return {
    write: (chunk) => {
      touch();
      return input.write(chunk);
    },
    // An EPIPE while waiting is ffmpeg gone: `finished` reports why.
    drained: () => Promise.race([once(input, 'drain').then(noop, noop), finished.then(noop, noop)]),
    end: () => input.end(),
    output: child.stdout,
    finished,
    kill,
  };
}
