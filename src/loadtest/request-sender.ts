import { Pool } from 'undici';
import { connectionErrorLabel, httpErrorLabel, timeoutLabel } from './error-label.js';
import type { RequestRecord } from './load-test-result.js';
import type { ServiceTarget } from './service-target.js';

export interface RequestSenderOptions {
  connections: number;
  timeoutMs: number;
  /** Milliseconds since the run started. */
  now: () => number;
}

interface InFlight {
  controller: AbortController;
  deadlineMs: number;
  outcome: 'timeout' | 'cancelled' | undefined;
}

/**
 * Sends requests for one target over a keep-alive pool and turns every outcome into
 * a RequestRecord. It never retries: a failure is a record, not a second attempt.
 */
export class RequestSender {
  readonly #target: ServiceTarget;
  readonly #options: RequestSenderOptions;
  readonly #pool: Pool;
  readonly #inFlight = new Set<InFlight>();
  // One sweeper instead of a timer per request keeps the generator's own cost flat.
  readonly #sweeper: NodeJS.Timeout;
  #closing: Promise<void> | undefined;

  constructor(target: ServiceTarget, options: RequestSenderOptions) {
    this.#target = target;
    this.#options = options;
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

  async send(id: number, intendedMs: number, stage: number | undefined): Promise<RequestRecord> {
    const prepared = this.#target.request(id);
    const startMs = this.#options.now();
    const entry: InFlight = {
      controller: new AbortController(),
      deadlineMs: startMs + this.#options.timeoutMs,
      outcome: undefined,
    };
    this.#inFlight.add(entry);
    const record = baseRecord(id, this.#target.name, stage, intendedMs, startMs);
    record.audioSeconds = prepared.audioSeconds;
    try {
      const response = await this.#pool.request({
        method: prepared.method,
        path: prepared.path,
        headers: prepared.headers,
        body: prepared.body,
        signal: entry.controller.signal,
      });
      record.ttfbMs = this.#options.now() - startMs;
      record.status = response.statusCode;
      const body = Buffer.from(await response.body.arrayBuffer());
      record.bytesReceived = body.length;
      record.ok = response.statusCode >= 200 && response.statusCode < 300;
      if (record.ok) {
        if (this.#target.keepsBody || prepared.audioSeconds !== undefined) {
          record.audioSeconds = this.#target.audioSecondsFromResponse(body, prepared);
        }
      } else {
        record.error = httpErrorLabel(response.statusCode, body);
      }
    } catch (error) {
      record.ok = false;
      record.cancelled = entry.outcome === 'cancelled';
      record.error =
        entry.outcome === 'timeout'
          ? timeoutLabel(this.#options.timeoutMs)
          : entry.outcome === 'cancelled'
            ? 'Cancelled (run interrupted)'
            : connectionErrorLabel(error);
    } finally {
      this.#inFlight.delete(entry);
    }
    record.endMs = this.#options.now();
    record.latencyMs = record.endMs - intendedMs;
    return record;
  }

  /** Aborts everything in flight; those requests are recorded as cancelled, not failed. */
  cancelAll(): void {
    for (const entry of this.#inFlight) {
      entry.outcome = 'cancelled';
      entry.controller.abort();
    }
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
    for (const entry of this.#inFlight) {
      if (entry.outcome === undefined && now >= entry.deadlineMs) {
        entry.outcome = 'timeout';
        entry.controller.abort();
      }
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
