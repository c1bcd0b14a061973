import { Pool } from 'undici';
import type { RequestRecord } from './load-test-result.js';
import { RecordingHandler } from './recording-handler.js';
import type { ServiceTarget } from './service-target.js';

export interface RequestSenderOptions {
  connections: number;
  timeoutMs: number;
  /** Milliseconds since the run started. */
  now: () => number;
}

/**
 * Sends requests for one target over a keep-alive pool and turns every outcome into
 * a RequestRecord. It never retries: a failure is a record, not a second attempt.
 */
export class RequestSender {
  readonly #target: ServiceTarget;
  readonly #options: RequestSenderOptions;
  readonly #pool: Pool;
  readonly #inFlight = new Set<RecordingHandler>();
  readonly #origin: string;
  // One sweeper instead of a timer per request keeps the generator's own cost flat.
  readonly #sweeper: NodeJS.Timeout;
  #closing: Promise<void> | undefined;

  constructor(target: ServiceTarget, options: RequestSenderOptions) {
    this.#target = target;
    this.#options = options;
    this.#origin = new URL(target.baseUrl).origin;
    this.#pool = new Pool(target.baseUrl, {
      connections: options.connections,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
    const sweepEvery = Math.min(1000, Math.max(10, options.timeoutMs / 10));
    this.#sweeper = setInterval(() => this.#abortOverdue(), sweepEvery);
    this.#sweeper.unref();
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  send(id: number, intendedMs: number, stage: number | undefined): Promise<RequestRecord> {
    const prepared = this.#target.request(id);
    const record = baseRecord(id, this.#target.name, stage, intendedMs, this.#options.now());
    record.audioSeconds = prepared.audioSeconds;
    return new Promise((resolve) => {
      const handler = new RecordingHandler(this.#target, prepared, record, this.#options, (done) => {
        this.#inFlight.delete(handler);
        resolve(done);
      });
      this.#inFlight.add(handler);
      this.#pool.dispatch(
        {
          origin: this.#origin,
          method: prepared.method,
          path: prepared.path,
          headers: prepared.headers,
          body: prepared.body,
        },
        handler,
      );
    });
  }

  /** Aborts everything in flight; those requests are recorded as cancelled, not failed. */
  cancelAll(): void {
    for (const handler of this.#inFlight) handler.abort('cancelled');
  }

  /** Waits for requests in flight, then closes the connections; safe to call twice. */
  close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#closing ??= this.#pool.close();
    return this.#closing;
  }

  /** Cancels what is in flight and drops the connections; safe to call twice. */
  destroy(): Promise<void> {
    clearInterval(this.#sweeper);
    this.cancelAll();
    this.#closing = this.#pool.destroy();
    return this.#closing;
  }

  #abortOverdue(): void {
    const now = this.#options.now();
    for (const handler of this.#inFlight) {
      if (now >= handler.deadlineMs) handler.abort('timeout');
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
