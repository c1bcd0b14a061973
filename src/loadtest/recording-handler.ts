import { Client, type Dispatcher } from 'undici';
import { connectionErrorLabel, httpErrorLabel, timeoutLabel } from './error-label.js';
import type { RequestRecord } from './load-test-result.js';
import type { PreparedRequest, ServiceTarget } from './service-target.js';

/** Called once per request with its filled record; one function per driver, not per request. */
export type RecordSink = (record: RequestRecord) => void;

export interface LaneClock {
  /** Milliseconds since the run started. */
  now: () => number;
  timeoutMs: number;
}

/**
 * One connection lane: an undici Client (one keep-alive connection) and the handler
 * that fills the RequestRecord of the one request it carries at a time. The handler
 * is reused from request to request, so the only per-request allocations are the
 * record and undici's own Request (see bench/loadtest-ceiling.ts for why that matters).
 *
 * It implements undici's original callback set (onConnect/onHeaders/…): a handler with
 * the newer onRequestStart set is wrapped per request and has every header parsed into
 * an object, which costs the ceiling about a tenth; nothing here reads a header.
 */
export class RecordingHandler implements Dispatcher.DispatchHandler {
  /** The request being carried, undefined while the lane is idle. */
  record: RequestRecord | undefined;
  /** Why the request was stopped from our side, if it was. */
  outcome: 'timeout' | 'cancelled' | undefined;
  deadlineMs = 0;
  readonly #client: Client;
  readonly #origin: string;
  readonly #target: ServiceTarget;
  readonly #clock: LaneClock;
  #prepared: PreparedRequest | undefined;
  #optionsFor: PreparedRequest | undefined;
  #options: Dispatcher.DispatchOptions | undefined;
  #sink: RecordSink | undefined;
  #abort: ((reason: Error) => void) | undefined;
  #chunks: Buffer[] | undefined;
  /**
   * True inside dispatch(): a completion reported synchronously is deferred to a
   * microtask, so a driver never recurses.
   */
  #dispatching = false;
  #deferred: RequestRecord | undefined;
  readonly #flushDeferred = () => this.#deliverDeferred();
  readonly #onIdle: (lane: RecordingHandler) => void;

  constructor(target: ServiceTarget, clock: LaneClock, onIdle: (lane: RecordingHandler) => void) {
    this.#target = target;
    this.#clock = clock;
    this.#onIdle = onIdle;
    this.#origin = new URL(target.baseUrl).origin;
    // pipelining 2 with never more than one request in flight: undici then reuses the
    // socket as soon as a response ends instead of a full event-loop turn later
    // (its pipelining-1 guard), which is what autocannon does too. One request per
    // connection at a time is still what is measured.
    this.#client = new Client(this.#origin, {
      pipelining: 2,
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
  }

  get busy(): boolean {
    return this.record !== undefined;
  }

  /** Sends one request on this lane; the lane must be idle. */
  start(record: RequestRecord, prepared: PreparedRequest, sink: RecordSink): void {
    this.record = record;
    this.#prepared = prepared;
    this.#sink = sink;
    this.outcome = undefined;
    this.#abort = undefined;
    this.#chunks = undefined;
    this.deadlineMs = record.startMs + this.#clock.timeoutMs;
    // Targets that send the same request every time hand over the same object: its
    // dispatch options are then built once per lane, not once per request.
    if (prepared !== this.#optionsFor) {
      this.#optionsFor = prepared;
      this.#options = {
        origin: this.#origin,
        method: prepared.method,
        path: prepared.path,
        headers: prepared.headers,
        body: prepared.body,
        // "Blocking" holds back pipelined requests until this one's headers are in; a
        // lane never has a second request to hold back, and the default costs undici
        // one more resume of its queue per response.
        blocking: false,
      };
    }
    this.#dispatching = true;
    try {
      this.#client.dispatch(this.#options as Dispatcher.DispatchOptions, this);
    } finally {
      this.#dispatching = false;
    }
    if (this.#deferred) queueMicrotask(this.#flushDeferred);
  }

  abort(outcome: 'timeout' | 'cancelled'): void {
    if (this.record === undefined || this.outcome !== undefined) return;
    this.outcome = outcome;
    this.#abort?.(new Error(outcome));
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  destroy(): Promise<void> {
    return this.#client.destroy();
  }

  onConnect(abort: (reason: Error) => void): void {
    this.#abort = abort;
    if (this.outcome !== undefined) abort(new Error(this.outcome));
  }

  onHeaders(statusCode: number): boolean {
    // 1xx informational responses come before the real one.
    if (statusCode < 200) return true;
    const record = this.record as RequestRecord;
    record.ttfbMs = this.#clock.now() - record.startMs;
    record.status = statusCode;
    record.ok = statusCode >= 200 && statusCode < 300;
    // Bodies are kept only where something is read from them: error messages, WAV headers.
    this.#chunks = !record.ok || this.#target.keepsBody ? [] : undefined;
    return true;
  }

  onData(chunk: Buffer): boolean {
    (this.record as RequestRecord).bytesReceived += chunk.length;
    this.#chunks?.push(chunk);
    return true;
  }

  onComplete(): void {
    const record = this.record as RequestRecord;
    const chunks = this.#chunks;
    if (chunks) {
      const body = Buffer.concat(chunks);
      if (!record.ok) record.error = httpErrorLabel(record.status ?? 0, body);
      else
        record.audioSeconds = this.#target.audioSecondsFromResponse(body, this.#prepared as PreparedRequest);
    }
    this.#finish(record);
  }

  onError(error: Error): void {
    const record = this.record as RequestRecord;
    record.ok = false;
    record.cancelled = this.outcome === 'cancelled';
    record.error =
      this.outcome === 'timeout'
        ? timeoutLabel(this.#clock.timeoutMs)
        : this.outcome === 'cancelled'
          ? 'Cancelled (run interrupted)'
          : connectionErrorLabel(error);
    // undici fails a connection's whole queue in one loop and asserts it is empty
    // afterwards, so the next request must not be dispatched from inside this callback.
    this.#finish(record, true);
  }

  #finish(record: RequestRecord, defer = false): void {
    record.endMs = this.#clock.now();
    record.latencyMs = record.endMs - record.intendedMs;
    if (this.#dispatching || defer) {
      this.#deferred = record;
      // start() schedules the delivery itself once dispatch() returns.
      if (!this.#dispatching) queueMicrotask(this.#flushDeferred);
      return;
    }
    this.#deliver(record);
  }

  #deliverDeferred(): void {
    const record = this.#deferred;
    this.#deferred = undefined;
    if (record) this.#deliver(record);
  }

  /** Frees the lane first: the sink may start the next request on it right away. */
  #deliver(record: RequestRecord): void {
    const sink = this.#sink as RecordSink;
    this.record = undefined;
    this.#prepared = undefined;
    this.#sink = undefined;
    this.#chunks = undefined;
    this.#abort = undefined;
    this.#onIdle(this);
    sink(record);
  }
}
