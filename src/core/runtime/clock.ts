/**
 * Time as a dependency: the idle and queue timeouts take a Clock so tests can move
 * time forward instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimer(delayMs: number, callback: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, delayMs);
    // A pending idle-unload or queue timer must never keep a draining process alive.
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

/** A clock that only moves when told to; for tests of time-dependent logic. */
export class ManualClock implements Clock {
  private current = 0;
  private timers: { at: number; callback: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer = { at: this.current + delayMs, callback, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.current = due.at;
      due.cancelled = true;
      due.callback();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    this.current = target;
  }
}
