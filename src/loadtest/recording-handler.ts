import type { Dispatcher } from 'undici';
import { connectionErrorLabel, httpErrorLabel, timeoutLabel } from './error-label.js';
import type { RequestRecord } from './load-test-result.js';
import type { PreparedRequest, ServiceTarget } from './service-target.js';

/**
 * Fills one RequestRecord from undici's dispatch callbacks. Callbacks instead of the
 * promise/stream API: no Readable per response, so the generator stays well below
 * the rates it measures (see bench/loadtest-ceiling.ts). It implements undici's
 * original callback set (onConnect/onHeaders/…): a handler with the newer
 * onRequestStart set is wrapped per request and has every header parsed into an
 * object, which costs the ceiling about a tenth; nothing here reads a header.
 */
export class RecordingHandler implements Dispatcher.DispatchHandler {
  readonly record: RequestRecord;
  /** Why the request was stopped from our side, if it was. */
  outcome: 'timeout' | 'cancelled' | undefined;
  deadlineMs = 0;
  readonly #target: ServiceTarget;
  readonly #prepared: PreparedRequest;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #resolve: (record: RequestRecord) => void;
  #abort: ((reason: Error) => void) | undefined;
  #chunks: Buffer[] | undefined;

  constructor(
    target: ServiceTarget,
    prepared: PreparedRequest,
    record: RequestRecord,
    clock: { now: () => number; timeoutMs: number },
    resolve: (record: RequestRecord) => void,
  ) {
    this.#target = target;
    this.#prepared = prepared;
    this.record = record;
    this.#now = clock.now;
    this.#timeoutMs = clock.timeoutMs;
    this.deadlineMs = record.startMs + clock.timeoutMs;
    this.#resolve = resolve;
  }

  abort(outcome: 'timeout' | 'cancelled'): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    this.#abort?.(new Error(outcome));
  }

  onConnect(abort: (reason: Error) => void): void {
    this.#abort = abort;
    if (this.outcome !== undefined) abort(new Error(this.outcome));
  }

  onHeaders(statusCode: number): boolean {
    // 1xx informational responses come before the real one.
    if (statusCode < 200) return true;
    const record = this.record;
    record.ttfbMs = this.#now() - record.startMs;
    record.status = statusCode;
    record.ok = statusCode >= 200 && statusCode < 300;
    // Bodies are kept only where something is read from them: error messages, WAV headers.
    this.#chunks = !record.ok || this.#target.keepsBody ? [] : undefined;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.record.bytesReceived += chunk.length;
    this.#chunks?.push(chunk);
    return true;
  }

  onComplete(): void {
    const record = this.record;
    const body = this.#chunks ? Buffer.concat(this.#chunks) : undefined;
    if (!record.ok) record.error = httpErrorLabel(record.status ?? 0, body ?? Buffer.alloc(0));
    else if (body) record.audioSeconds = this.#target.audioSecondsFromResponse(body, this.#prepared);
    this.#finish();
  }

  onError(error: Error): void {
    const record = this.record;
    record.ok = false;
    record.cancelled = this.outcome === 'cancelled';
    record.error =
      this.outcome === 'timeout'
        ? timeoutLabel(this.#timeoutMs)
        : this.outcome === 'cancelled'
          ? 'Cancelled (run interrupted)'
          : connectionErrorLabel(error);
    this.#finish();
  }

  #finish(): void {
    const record = this.record;
    record.endMs = this.#now();
    record.latencyMs = record.endMs - record.intendedMs;
    this.#resolve(record);
  }
}
