import type { RequestRecord } from './load-test-result.js';
import { RecordingHandler, type RecordSink } from './recording-handler.js';
import type { ServiceTarget } from './service-target.js';

export interface RequestSenderOptions {
  connections: number;
  timeoutMs: number;
  /** Milliseconds since the run started. */
  now: () => number;
}

/**
 * Sends requests for one target over `connections` keep-alive lanes (one connection
 * each, one request at a time) and turns every outcome into a RequestRecord. It never
 * retries: a failure is a record, not a second attempt. Completions go to a sink the
 * driver passes once, not to a promise per request: at tens of thousands of requests
 * a second the promises, closures and their garbage were a third of the generator's
 * own CPU time (bench/loadtest-ceiling.ts).
 */
export class RequestSender {
  readonly #target: ServiceTarget;
  readonly #options: RequestSenderOptions;
  readonly #lanes: RecordingHandler[];
  readonly #idle: RecordingHandler[];
  // One sweeper instead of a timer per request keeps the generator's own cost flat.
  readonly #sweeper: NodeJS.Timeout;
  #closing: Promise<void> | undefined;

  constructor(target: ServiceTarget, options: RequestSenderOptions) {
    this.#target = target;
    this.#options = options;
    const clock = { now: options.now, timeoutMs: options.timeoutMs };
    const onIdle = (lane: RecordingHandler) => {
      this.#idle.push(lane);
    };
    this.#lanes = Array.from(
      { length: options.connections },
      () => new RecordingHandler(target, clock, onIdle),
    );
    // Popped from the end: the first lanes are used first, as a pool would.
    this.#idle = [...this.#lanes].reverse();
    const sweepEvery = Math.min(1000, Math.max(10, options.timeoutMs / 10));
    this.#sweeper = setInterval(() => this.#abortOverdue(), sweepEvery);
    this.#sweeper.unref();
  }

  get inFlight(): number {
    return this.#lanes.length - this.#idle.length;
  }

  /** Whether a lane is free; a driver sends only when one is. */
  get canSend(): boolean {
    return this.#idle.length > 0;
  }

  /**
   * Starts request `id` on a free lane; `sink` gets its record when it ends, never
   * synchronously from inside this call. `intendedMs` undefined means "now" (closed model).
   */
  send(id: number, intendedMs: number | undefined, stage: number | undefined, sink: RecordSink): void {
    const lane = this.#idle.pop();
    if (!lane) throw new Error('RequestSender.send: every connection is busy');
    const prepared = this.#target.request(id);
    const startMs = this.#options.now();
    const record = baseRecord(id, this.#target.name, stage, intendedMs ?? startMs, startMs);
    record.audioSeconds = prepared.audioSeconds;
    lane.start(record, prepared, sink);
  }

  /** Aborts everything in flight; those requests are recorded as cancelled, not failed. */
  cancelAll(): void {
    for (const lane of this.#lanes) lane.abort('cancelled');
  }

  /** Waits for requests in flight, then closes the connections; safe to call twice. */
  close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#closing ??= Promise.all(this.#lanes.map((lane) => lane.close())).then(() => {});
    return this.#closing;
  }

  /** Cancels what is in flight and drops the connections; safe to call twice. */
  destroy(): Promise<void> {
    clearInterval(this.#sweeper);
    this.cancelAll();
    this.#closing = Promise.all(this.#lanes.map((lane) => lane.destroy())).then(() => {});
    return this.#closing;
  }

  #abortOverdue(): void {
    const now = this.#options.now();
    for (const lane of this.#lanes) {
      if (lane.busy && now >= lane.deadlineMs) lane.abort('timeout');
    }
  }
}

function baseRecord(
  id: number,
  service: string,
  stage: number | undefined,
  intendedMs: number,
  startMs: number,
): RequestRecord {
  return {
    id,
    service,
    stage,
    intendedMs,
    startMs,
    ttfbMs: undefined,
    endMs: startMs,
    latencyMs: 0,
    status: undefined,
    ok: false,
    error: undefined,
    cancelled: false,
    bytesReceived: 0,
    audioSeconds: undefined,
  };
}
