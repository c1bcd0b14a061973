/**
 * N worker threads, each holding its own ONNX Runtime session of one model, so N
 * requests can run inference at once while the event loop stays free. A request
 * that is aborted stops waiting at once; the inference it started finishes in its
 * worker and the result is dropped. `close()` terminates the workers, which frees
 * the sessions' memory.
 */
import { Worker } from 'node:worker_threads';
import type { OutputTensor, WireTensor, WorkerReply, WorkerSetup } from './onnx-protocol.js';

const WORKER_URL = new URL('./onnx-worker.js', import.meta.url);

interface Pending {
  readonly resolve: (outputs: Record<string, OutputTensor>) => void;
  readonly reject: (error: Error) => void;
}

class SessionWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  inputNames: readonly string[] = [];
  busy = 0;
  /** False once the thread has exited (crashed, or terminated by close). */
  alive = true;

  constructor(setup: WorkerSetup) {
    this.worker = new Worker(WORKER_URL, { workerData: setup });
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          this.inputNames = reply.inputNames;
          this.listen();
          resolve();
        } else if (reply.type === 'failed') reject(new Error(reply.message));
      };
      this.worker.once('message', onMessage);
      this.worker.once('error', reject);
    });
  }

  private listen(): void {
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.type !== 'result' && reply.type !== 'error') return;
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.type === 'result') pending?.resolve(reply.outputs);
      else pending?.reject(new Error(reply.message));
    });
    const failAll = (error: Error) => {
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => {
      this.alive = false;
      failAll(new Error(`inference worker exited (${code})`));
    });
  }
}

export class OnnxWorkerPool {
  private nextId = 1;
  private closed = false;

  private constructor(private readonly workers: SessionWorker[]) {}

  /** Starts `size` workers and waits until each has loaded the model. */
  static async open(setup: WorkerSetup, size: number): Promise<OnnxWorkerPool> {
    const workers = Array.from({ length: Math.max(1, size) }, () => new SessionWorker(setup));
    try {
      await Promise.all(workers.map((w) => w.ready()));
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw error;
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
    const live = this.workers.filter((w) => w.alive);
    const worker = live.reduce<SessionWorker | undefined>(
      (a, b) => (a && a.busy <= b.busy ? a : b),
      undefined,
    );
    if (!worker) return Promise.reject(new Error('every inference worker has exited'));
    const id = this.nextId++;
    worker.busy += 1;
    return new Promise<Record<string, OutputTensor>>((resolve, reject) => {
      const onAbort = () => {
        worker.pending.delete(id);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      worker.pending.set(id, {
        resolve: (outputs) => {
          signal.removeEventListener('abort', onAbort);
          resolve(outputs);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      const transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer);
      worker.worker.postMessage({ type: 'run', id, feeds }, transfer);
    }).finally(() => {
      worker.busy -= 1;
    });
  }

  /** Terminates every worker (and so frees every session); safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
