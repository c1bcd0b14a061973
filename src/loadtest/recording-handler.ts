import type { Dispatcher } from 'undici';
import { connectionErrorLabel, httpErrorLabel, timeoutLabel } from './error-label.js';
import type { RequestRecord } from './load-test-result.js';
import type { PreparedRequest, ServiceTarget } from './service-target.js';

type Controller = Dispatcher.DispatchController;

/**
 * Fills one RequestRecord from undici's dispatch callbacks. Callbacks instead of the
 * promise/stream API: no Readable per response, so the generator stays well below
 * the rates it measures (see bench/loadtest-ceiling.ts).
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
  #controller: Controller | undefined;
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
    this.#controller?.abort(new Error(outcome));
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.outcome !== undefined) controller.abort(new Error(this.outcome));
  }

  onResponseStart(_controller: Controller, statusCode: number): void {
    const record = this.record;
    record.ttfbMs = this.#now() - record.startMs;
    record.status = statusCode;
    record.ok = statusCode >= 200 && statusCode < 300;
    // Bodies are kept only where something is read from them: error messages, WAV headers.
    this.#chunks = !record.ok || this.#target.keepsBody ? [] : undefined;
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.record.bytesReceived += chunk.length;
    this.#chunks?.push(chunk);
  }

  onResponseEnd(): void {
    const record = this.record;
    const body = this.#chunks ? Buffer.concat(this.#chunks) : undefined;
    if (!record.ok) record.error = httpErrorLabel(record.status ?? 0, body ?? Buffer.alloc(0));
    else if (body) record.audioSeconds = this.#target.audioSecondsFromResponse(body, this.#prepared);
    this.#finish();
  }

  onResponseError(_controller: Controller, error: Error): void {
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
