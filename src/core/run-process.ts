import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { AppError } from './errors.js';

export interface ProcessResult {
  readonly stdout: Buffer;
  readonly stderr: string;
}

export type ProcessFailure = 'not_found' | 'exit' | 'aborted' | 'timeout';

export class ProcessError extends AppError {
  constructor(
    message: string,
    readonly kind: ProcessFailure,
    readonly stderr = '',
  ) {
    super(`VS_ERR_PROCESS_${kind.toUpperCase()}`, message);
  }
}

const STDERR_KEEP = 4096;

/**
 * Runs a program without a shell, feeding `stdin` and collecting stdout. Rejects
 * with a ProcessError on a non-zero exit, a missing binary, the signal or the
 * time limit; the child is killed in the last two cases so nothing is left behind.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new ProcessError(`${command} aborted`, 'aborted'));
    const run = startWatched(command, args, options);
    const chunks: Buffer[] = [];
    run.child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    run.child.on('close', (code) => {
      run.release();
      const error = run.outcome(code);
      if (error) reject(error);
      else resolve({ stdout: Buffer.concat(chunks), stderr: run.stderr() });
    });
    run.child.stdin.end(options.stdin ?? '');
  });
}

/**
 * Runs a program like runProcess, but yields its stdout as it is written instead of
 * once it exits, so a consumer can pass output on while the program still works.
 * Ends once the program exits with status 0, throws a ProcessError otherwise; the
 * child is killed on the signal, the time limit, or when the consumer stops early.
 */
export async function* streamProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  if (options.signal?.aborted) throw new ProcessError(`${command} aborted`, 'aborted');
  const run = startWatched(command, args, options);
  const closed = new Promise<number | null>((resolve) => run.child.on('close', resolve));
  run.child.stdin.end(options.stdin ?? '');
  let exited = false;
  try {
    try {
      for await (const chunk of run.child.stdout) {
        if (run.failure()) break;
        yield chunk as Buffer;
      }
    } catch (error) {
      // A killed child's stdout can end as a premature close: the reason is its failure.
      if (!run.failure()) throw error;
    }
    const code = await closed;
    exited = true;
    const error = run.outcome(code);
    if (error) throw error;
  } finally {
    run.release();
    // The consumer stopped early (or something threw): nothing may be left running.
    if (!exited) run.child.kill('SIGKILL');
  }
}

export interface ProcessOptions {
  readonly stdin?: Uint8Array | string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** A started child with what both ways of running share: kill on abort or time limit, stderr kept. */
interface WatchedChild {
  readonly child: ChildProcessWithoutNullStreams;
  /** Why it was stopped, or could not start; undefined while neither happened. */
  failure(): ProcessError | undefined;
  /** The last STDERR_KEEP characters it wrote to stderr. */
  stderr(): string;
  /** The error its end means (the failure, else a non-zero status), or undefined for success. */
  outcome(code: number | null): ProcessError | undefined;
  /** Stops the timer and the abort listener; call once it has ended. */
  release(): void;
}

function startWatched(command: string, args: readonly string[], options: ProcessOptions): WatchedChild {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let failure: ProcessError | undefined;
  const stop = (error: ProcessError) => {
    failure ??= error;
    child.kill('SIGKILL');
  };
  const onAbort = () => stop(new ProcessError(`${command} aborted`, 'aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => stop(new ProcessError(`${command} timed out`, 'timeout')), options.timeoutMs);
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });
  // The child may exit before reading all of stdin (bad input): that is its
  // exit status to report, not an EPIPE to crash on.
  child.stdin.on('error', () => {});
  child.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= new ProcessError(
      error.code === 'ENOENT'
        ? `${command} is not installed`
        : `${command} failed to start: ${error.message}`,
      'not_found',
    );
  });
  return {
    child,
    failure: () => failure,
    stderr: () => stderr,
    outcome: (code) =>
      failure ??
      (code === 0
        ? undefined
        : new ProcessError(`${command} exited with status ${code}: ${lastLine(stderr)}`, 'exit', stderr)),
    release: () => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]?.trim() ?? '';
}

/**
 * Runs a program on the user's terminal (its output is theirs to read, as for
 * `systemctl`) and waits for it; says whether it ran and succeeded.
 */
export function runInteractive(command: string, args: readonly string[]): 'ok' | 'not-found' | 'failed' {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'not-found';
  return result.error === undefined && result.status === 0 ? 'ok' : 'failed';
}
