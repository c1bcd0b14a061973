/**
 * N worker threads, each holding its own ONNX Runtime session of one model, so N
 * requests can run inference at once while the event loop stays free. A request
 * that is aborted stops waiting at once; the inference it started finishes in its
 * worker and the result is dropped. `close()` terminates the workers, which frees
 * the sessions' memory, but only once no inference is running in them: a thread
 * terminated while onnxruntime is inside a call can abort the whole process.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { OutputTensor, WireTensor, WorkerReply, WorkerSetup } from './onnx-protocol.js';

const WORKER_URL = new URL('./onnx-worker.js', import.meta.url);
/** The longest close() waits for running inferences before terminating anyway. */
const CLOSE_WAIT_MS = 30_000;

type Settle = (reply: { outputs: Record<string, OutputTensor> } | { error: Error }) => void;

class SessionWorker {
  readonly worker: Worker;
  /** Inferences posted and not yet answered, including those whose caller gave up. */
  readonly running = new Map<number, Settle>();
  inputNames: readonly string[] = [];
  /** False once the thread has exited (crashed, or terminated by close). */
  alive = true;

  constructor(setup: WorkerSetup) {
    this.worker = new Worker(WORKER_URL, { workerData: setup });
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.worker.once('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          this.inputNames = reply.inputNames;
          this.listen();
          resolve();
        } else if (reply.type === 'failed') reject(new Error(reply.message));
      });
      this.worker.once('error', reject);
    });
  }

  private listen(): void {
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const settle = this.running.get(reply.id);
      this.running.delete(reply.id);
      settle?.(reply.type === 'result' ? { outputs: reply.outputs } : { error: new Error(reply.message) });
      if (this.running.size === 0) this.worker.emit('idle');
    });
    const failAll = (error: Error) => {
      for (const settle of this.running.values()) settle({ error });
      this.running.clear();
      this.worker.emit('idle');
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => {
      this.alive = false;
      failAll(new Error(`inference worker exited (${code})`));
    });
  }

  async whenIdle(): Promise<void> {
    if (this.running.size > 0 && this.alive) await once(this.worker, 'idle');
  }
}

export class OnnxWorkerPool {
  private nextId = 1;
  private closed = false;

  private constructor(private readonly workers: SessionWorker[]) {}

  /** Starts `size` workers and waits until each has loaded the model. */
  static async open(setup: WorkerSetup, size: number): Promise<OnnxWorkerPool> {
    const workers = Array.from({ length: Math.max(1, size) }, () => new SessionWorker(setup));
    // Every worker must have finished loading before any is terminated: terminating a
    // thread while onnxruntime is still creating its session aborts the whole process.
    const loads = await Promise.allSettled(workers.map((w) => w.ready()));
    const failed = loads.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw failed.reason;
    }
    return new OnnxWorkerPool(workers);
  }

  get inputNames(): readonly string[] {
    return this.workers[0]?.inputNames ?? [];
  }

  /** False when a worker has died (out of memory, a runtime crash): the owner should reopen the model. */
  get alive(): boolean {
    return !this.closed && this.workers.every((w) => w.alive);
  }

  /** Runs on the least busy worker; rejects with the signal's reason when it aborts first. */
  run(feeds: Record<string, WireTensor>, signal: AbortSignal): Promise<Record<string, OutputTensor>> {
    if (this.closed) return Promise.reject(new Error('the model was unloaded'));
    if (signal.aborted) return Promise.reject(signal.reason);
    const worker = this.workers
      .filter((w) => w.alive)
      .reduce<SessionWorker | undefined>(
        (a, b) => (a && a.running.size <= b.running.size ? a : b),
        undefined,
      );
    if (!worker) return Promise.reject(new Error('every inference worker has exited'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      worker.running.set(id, (reply) => {
        signal.removeEventListener('abort', onAbort);
        if ('error' in reply) reject(reply.error);
        else resolve(reply.outputs);
      });
      const transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer);
      worker.worker.postMessage({ type: 'run', id, feeds }, transfer);
    });
  }

  /** Waits for running inferences, then terminates every worker (freeing the sessions); safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const idle = Promise.all(this.workers.map((w) => w.whenIdle()));
    await Promise.race([idle, sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
    await this.terminateWorkers();
  }

  /** Terminates every worker now, running inferences included (they reject); safe to call twice. */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.terminateWorkers();
  }

  private async terminateWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
