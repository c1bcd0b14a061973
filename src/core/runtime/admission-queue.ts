import { clientClosedError, queueFullError, queueTimeoutError, shuttingDownError } from '../errors.js';
import { type Clock, systemClock, type TimerHandle } from './clock.js';

/** Held while a request uses an inference slot. `release` is safe to call twice. */
export interface SlotPermit {
  /** Milliseconds the request waited in the queue. */
  readonly waitedMs: number;
  release(): void;
}

export interface AdmissionStats {
  readonly active: number;
  readonly queued: number;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
}

export interface AdmissionOptions {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly clock?: Clock;
  /** Called after every change of active/queued, for gauges. */
  readonly onChange?: (stats: AdmissionStats) => void;
}

interface Waiter {
  readonly enqueuedAt: number;
  readonly grant: (permit: SlotPermit) => void;
  readonly fail: (error: Error) => void;
  timer: TimerHandle | undefined;
  detachAbort: () => void;
}

/** Service time assumed before any request has finished, for Retry-After. */
const INITIAL_SERVICE_MS = 2000;
const SERVICE_TIME_SMOOTHING = 0.2;

/**
 * Inference slots plus a bounded FIFO wait queue. Every way a request can end
 * (success, error, timeout, abort) goes through `release` or removes its waiter,
 * so no path leaks a slot.
 */
export class AdmissionQueue {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly clock: Clock;
  private draining = false;
  private averageServiceMs = INITIAL_SERVICE_MS;
  private idleResolvers: (() => void)[] = [];

  constructor(private readonly options: AdmissionOptions) {
    this.clock = options.clock ?? systemClock;
  }

  stats(): AdmissionStats {
    return {
      active: this.active,
      queued: this.waiters.length,
      maxConcurrent: this.options.maxConcurrent,
      maxQueue: this.options.maxQueue,
    };
  }

  get isFull(): boolean {
    return this.active >= this.options.maxConcurrent && this.waiters.length >= this.options.maxQueue;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Seconds until a slot is likely free for one more request: the queue ahead of
   * it divided among the slots, times the measured mean service time.
   */
  estimateRetryAfterSeconds(): number {
    const ahead = this.waiters.length + Math.max(0, this.active - this.options.maxConcurrent + 1);
    const rounds = Math.ceil((ahead + 1) / this.options.maxConcurrent);
    return Math.max(1, Math.ceil((rounds * this.averageServiceMs) / 1000));
  }

  /** Throws the error for a full queue now, without waiting (admission before decoding). */
  assertAdmissible(): void {
    if (this.draining) throw shuttingDownError();
    if (this.isFull) throw queueFullError(this.estimateRetryAfterSeconds());
  }

  async acquire(signal?: AbortSignal): Promise<SlotPermit> {
    if (signal?.aborted) throw clientClosedError();
    this.assertAdmissible();
    if (this.active < this.options.maxConcurrent && this.waiters.length === 0) {
      return this.grant(this.clock.now());
    }
    return new Promise<SlotPermit>((resolve, reject) => this.enqueue(resolve, reject, signal));
  }

  private enqueue(resolve: (p: SlotPermit) => void, reject: (e: Error) => void, signal?: AbortSignal): void {
    const waiter: Waiter = {
      enqueuedAt: this.clock.now(),
      grant: resolve,
      fail: reject,
      timer: undefined,
      detachAbort: () => {},
    };
    waiter.timer = this.clock.setTimer(this.options.queueTimeoutMs, () =>
      this.removeWaiter(waiter, queueTimeoutError(Math.round(this.options.queueTimeoutMs / 1000))),
    );
    if (signal) {
      const onAbort = () => this.removeWaiter(waiter, clientClosedError());
      signal.addEventListener('abort', onAbort, { once: true });
      waiter.detachAbort = () => signal.removeEventListener('abort', onAbort);
    }
    this.waiters.push(waiter);
    this.changed();
  }

  private removeWaiter(waiter: Waiter, error: Error): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    this.settleWaiter(waiter);
    waiter.fail(error);
    this.changed();
  }

  private settleWaiter(waiter: Waiter): void {
    waiter.timer?.cancel();
    waiter.detachAbort();
  }

  private grant(enqueuedAt: number): SlotPermit {
    this.active += 1;
    const startedAt = this.clock.now();
    let released = false;
    this.changed();
    return {
      waitedMs: startedAt - enqueuedAt,
      release: () => {
        if (released) return;
        released = true;
        this.recordServiceTime(this.clock.now() - startedAt);
        this.active -= 1;
        this.dispatch();
        this.changed();
      },
    };
  }

  private dispatch(): void {
    while (this.active < this.options.maxConcurrent) {
      const next = this.waiters.shift();
      if (next === undefined) break;
      this.settleWaiter(next);
      next.grant(this.grant(next.enqueuedAt));
    }
  }

  private recordServiceTime(ms: number): void {
    this.averageServiceMs += SERVICE_TIME_SMOOTHING * (ms - this.averageServiceMs);
  }

  private changed(): void {
    this.options.onChange?.(this.stats());
    if (this.active === 0 && this.waiters.length === 0) {
      const resolvers = this.idleResolvers;
      this.idleResolvers = [];
      for (const resolve of resolvers) resolve();
    }
  }

  /**
   * Starts draining and fails now, with `error`, every queued request that would not
   * finish within `budgetMs` at the measured mean service time (running requests are
   * taken to need a whole one more). Answering them at once beats a dropped socket at
   * the end of the grace period. Returns how many were refused.
   */
  shedBeyond(budgetMs: number, error: () => Error): number {
    this.draining = true;
    const slots = this.options.maxConcurrent;
    const busyRound = this.active >= slots ? 1 : 0;
    const late = this.waiters.filter((_waiter, position) => {
      const roundsBefore = Math.floor(position / slots) + busyRound;
      return (roundsBefore + 1) * this.averageServiceMs > budgetMs;
    });
    for (const waiter of late) this.removeWaiter(waiter, error());
    return late.length;
  }

  /** Refuses new requests and resolves once queued and running ones have finished. */
  close(): Promise<void> {
    this.draining = true;
    if (this.active === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  /** Refuses new requests and fails every waiting one now; safe to call twice. */
  async destroy(): Promise<void> {
    this.draining = true;
    for (const waiter of this.waiters.splice(0)) {
      this.settleWaiter(waiter);
      waiter.fail(shuttingDownError());
    }
    this.changed();
  }
}
