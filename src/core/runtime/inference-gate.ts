import {
  clientClosedError,
  errorMessage,
  isVoiceStackError,
  modelUnavailableError,
  resourceThresholdError,
} from '../errors.js';
import type { ServiceMetrics } from '../metrics.js';
import type { AdmissionQueue } from './admission-queue.js';
import type { LoadableEngine } from './engine.js';
import type { ModelSlot } from './model-slot.js';
import type { ResourceGuard } from './resource-guard.js';

/**
 * The one path every inference request takes: resource guard, then a slot from the
 * admission queue, then the model slot. Routes call `admit` before reading a large
 * body (so refused requests cost no decoding) and `run` for the work itself.
 */
export class InferenceGate<E extends LoadableEngine> {
  /** Aborted when the process stops waiting for running work (end of the shutdown grace). */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly deps: {
      readonly admission: AdmissionQueue;
      readonly guard: ResourceGuard;
      readonly slot: ModelSlot<E>;
      readonly metrics: ServiceMetrics;
      readonly modelName: () => string;
    },
  ) {}

  /** Throws now if the request would be refused: draining, over a threshold, queue full. */
  admit(): void {
    this.deps.admission.assertAdmissible();
    const verdict = this.deps.guard.check();
    if (!verdict.ok) {
      throw resourceThresholdError(
        verdict.resource,
        verdict.percent,
        verdict.threshold,
        this.deps.admission.estimateRetryAfterSeconds(),
      );
    }
  }

  /**
   * Waits for a slot, then runs `work` with the loaded engine. `callerSignal` aborts
   * when the caller goes away (an HTTP client, a cancelled job, a closed socket): a
   * queued request leaves the queue, a running one is asked to stop. The slot is
   * released on every path.
   */
  async run<T>(callerSignal: AbortSignal, work: (engine: E, signal: AbortSignal) => Promise<T>): Promise<T> {
    this.admit();
    // A request answered 503 at the end of the grace has no client to abort it, so
    // the shutdown stops its engine too: the model can then be unloaded at once.
    const signal = AbortSignal.any([callerSignal, this.shutdown.signal]);
    const permit = await this.deps.admission.acquire(signal);
    this.deps.metrics.queueWait.observe(permit.waitedMs / 1000);
    const endTimer = this.deps.metrics.inferenceDuration.startTimer();
    try {
      return await this.deps.slot.use(async (engine) => {
        if (signal.aborted) throw clientClosedError();
        return await work(engine, signal);
      });
    } catch (error) {
      throw this.asLoadError(error);
    } finally {
      endTimer();
      permit.release();
    }
  }

  /** Stops every running inference (their engines see the abort); for the forced end of a drain. */
  abortAll(): void {
    this.shutdown.abort();
  }

  private asLoadError(error: unknown): unknown {
    if (isVoiceStackError(error)) return error;
    if (!this.deps.slot.status().loaded) {
      return modelUnavailableError(this.deps.modelName(), errorMessage(error), error);
    }
    return error;
  }
}
