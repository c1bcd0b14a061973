import { type Clock, systemClock, type TimerHandle } from './clock.js';
import type { EngineDescription, LoadableEngine } from './engine.js';

export interface ModelSlotStatus {
  readonly loaded: boolean;
  readonly loading: boolean;
  readonly inFlight: number;
  /** Wall-clock time of the last request's start or end; null before the first. */
  readonly lastUsed: Date | null;
  /** True once a first load has succeeded (for readiness). */
  readonly everLoaded: boolean;
  readonly description: EngineDescription;
}

export interface ModelSlotEvents {
  onLoaded?(durationMs: number, description: EngineDescription): void;
  onLoadFailed?(error: unknown): void;
  onUnloaded?(reason: 'idle' | 'shutdown', description: EngineDescription): void;
}

export interface ModelSlotOptions {
  /** 0 = never unload. */
  readonly idleTimeoutMs: number;
  readonly clock?: Clock;
  readonly events?: ModelSlotEvents;
}

/**
 * Owns one engine's model: loads it on first use (concurrent callers share one
 * load), counts requests in flight, and unloads it after the idle timeout when
 * nothing is running — the ref-count + TTL pattern of a self-disposing model.
 */
export class ModelSlot<E extends LoadableEngine> {
  private loaded = false;
  private everLoaded = false;
  private loading: Promise<void> | undefined;
  /** Serialises load and unload so that one never overlaps the other. */
  private transition: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private lastUsedAt: Date | null = null;
  private lastUsedTick = 0;
  private idleTimer: TimerHandle | undefined;
  private closed = false;
  private readonly clock: Clock;

  constructor(
    readonly engine: E,
    private readonly options: ModelSlotOptions,
  ) {
    this.clock = options.clock ?? systemClock;
  }

  status(): ModelSlotStatus {
    return {
      loaded: this.loaded,
      loading: this.loading !== undefined,
      inFlight: this.inFlight,
      lastUsed: this.lastUsedAt,
      everLoaded: this.everLoaded,
      description: this.engine.describe(),
    };
  }

  /** Runs `work` with the model loaded; the model stays loaded while any work runs. */
  async use<T>(work: (engine: E) => Promise<T>): Promise<T> {
    this.inFlight += 1;
    this.touch();
    try {
      await this.ensureLoaded();
      return await work(this.engine);
    } finally {
      this.inFlight -= 1;
      this.touch();
      this.scheduleIdleUnload();
    }
  }

  ensureLoaded(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    if (this.loading) return this.loading;
    const startedAt = this.clock.now();
    const loading = this.serialised(async () => {
      if (this.loaded) return;
      await this.engine.load();
      this.loaded = true;
      this.everLoaded = true;
      this.options.events?.onLoaded?.(this.clock.now() - startedAt, this.engine.describe());
    });
    this.loading = loading.finally(() => {
      this.loading = undefined;
    });
    loading.catch((error: unknown) => this.options.events?.onLoadFailed?.(error));
    return this.loading;
  }

  private serialised(step: () => Promise<void>): Promise<void> {
    const next = this.transition.then(step);
    this.transition = next.catch(() => {});
    return next;
  }

  private touch(): void {
    this.lastUsedAt = new Date();
    this.lastUsedTick = this.clock.now();
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
  }

  private scheduleIdleUnload(delayMs = this.options.idleTimeoutMs): void {
    const timeout = this.options.idleTimeoutMs;
    if (timeout <= 0 || this.inFlight > 0 || this.closed) return;
    this.idleTimer = this.clock.setTimer(delayMs, () => {
      this.idleTimer = undefined;
      if (this.inFlight > 0) return;
      const remaining = timeout - (this.clock.now() - this.lastUsedTick);
      // Timers can fire a hair early against the monotonic clock; wait out the rest
      // rather than give up, or the model would stay loaded for good.
      if (remaining > 0) this.scheduleIdleUnload(remaining);
      else void this.unload('idle');
    });
  }

  private unload(reason: 'idle' | 'shutdown'): Promise<void> {
    return this.serialised(async () => {
      if (!this.loaded || (reason === 'idle' && this.inFlight > 0)) return;
      const description = this.engine.describe();
      this.loaded = false;
      await this.engine.unload();
      this.options.events?.onUnloaded?.(reason, description);
    });
  }

  /**
   * Unloads after any load in progress; called once admission has drained, so no
   * request is running. Safe to call twice.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.idleTimer?.cancel();
    await this.loading?.catch(() => {});
    await this.unload('shutdown');
  }
}
