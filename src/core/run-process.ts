import { spawn, spawnSync } from 'node:child_process';
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
  options: { stdin?: Uint8Array | string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new ProcessError(`${command} aborted`, 'aborted'));
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
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
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
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
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (code !== 0) {
        return reject(
          new ProcessError(`${command} exited with status ${code}: ${lastLine(stderr)}`, 'exit', stderr),
        );
      }
      resolve({ stdout: Buffer.concat(chunks), stderr });
    });
    child.stdin.end(options.stdin ?? '');
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
  options: { stdin?: Uint8Array | string; signal?: AbortSignal; timeoutMs?: number } = {},
): AsyncGenerator<Buffer, void, undefined> {
  if (options.signal?.aborted) throw new ProcessError(`${command} aborted`, 'aborted');
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
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });
  child.stdin.on('error', () => {});
  child.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= new ProcessError(
      error.code === 'ENOENT'
        ? `${command} is not installed`
        : `${command} failed to start: ${error.message}`,
      'not_found',
    );
  });
  child.stdin.end(options.stdin ?? '');
  let exited = false;
  try {
    try {
      for await (const chunk of child.stdout) {
        if (failure) break;
        yield chunk as Buffer;
      }
    } catch (error) {
      // A killed child's stdout can end as a premature close: the reason is `failure`.
      if (!failure) throw error;
    }
    const code = await closed;
    exited = true;
    if (failure) throw failure;
    if (code !== 0) {
      throw new ProcessError(`${command} exited with status ${code}: ${lastLine(stderr)}`, 'exit', stderr);
    }
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    // The consumer stopped early (or something threw): nothing may be left running.
    if (!exited) child.kill('SIGKILL');
  }
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
