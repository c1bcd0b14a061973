import { clientClosedError } from '../../core/errors.js';

/**
 * One native call at a time per context, in arrival order. A caller still waiting for its turn
 * (or whose call is running) leaves at once on abort with client-closed; the call itself, once
 * started, runs to its end before the next one starts, so a context is never used by two
 * threads and is freed only after idle().
 */
export class NativeCallQueue {
  private queue: Promise<unknown> = Promise.resolve();

  run<T>(signal: AbortSignal, call: () => Promise<T>): Promise<T> {
    const turn = this.queue.then(call);
    this.queue = turn.catch(() => undefined);
    return new Promise<T>((resolve, reject) => {
      const leave = () => reject(clientClosedError());
      signal.addEventListener('abort', leave, { once: true });
      turn.then(
        (value) => {
          signal.removeEventListener('abort', leave);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(error);
        },
      );
    });
  }

  /** Resolves once no call is running or queued. */
  idle(): Promise<void> {
    return this.queue.then(() => undefined);
  }
}
