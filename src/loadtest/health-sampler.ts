import { Client } from 'undici';
import { errorMessage } from '../core/errors.js';
import type { HealthSample } from './load-test-result.js';

const SAMPLE_TIMEOUT_MS = 2000;

/**
 * Polls `/health/detailed` on its own connection, so the server's view is sampled
 * even while every load connection waits for a busy slot.
 */
export class HealthSampler {
  readonly #client: Client;
  readonly #path: string;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly samples: HealthSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #current: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(baseUrl: string, path: string, intervalMs: number, now: () => number) {
    this.#client = new Client(baseUrl, { headersTimeout: SAMPLE_TIMEOUT_MS, bodyTimeout: SAMPLE_TIMEOUT_MS });
    this.#path = path;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  async sampleOnce(): Promise<HealthSample> {
    const atMs = this.#now();
    let sample: HealthSample;
    try {
      const response = await this.#client.request({
        method: 'GET',
        path: this.#path,
        signal: AbortSignal.timeout(SAMPLE_TIMEOUT_MS),
      });
      const body: unknown = await response.body.json();
      sample =
        response.statusCode === 200
          ? parseHealth(atMs, body)
          : failedSample(atMs, `HTTP ${response.statusCode}`);
    } catch (error) {
      sample = failedSample(atMs, errorMessage(error));
    }
    this.samples.push(sample);
    return sample;
  }

  start(): void {
    this.#running = true;
    const loop = () => {
      if (!this.#running) return;
      this.#current = this.sampleOnce().then(() => {
        if (this.#running) this.#timer = setTimeout(loop, this.#intervalMs);
      });
    };
    loop();
  }

  /** Stops polling and waits for a poll in progress; safe to call twice. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#current;
  }

  async close(): Promise<void> {
    await this.stop();
    this.#closing ??= this.#client.close().catch(() => undefined);
    await this.#closing;
  }
}

function failedSample(atMs: number, error: string): HealthSample {
  return { ...emptySample(atMs), ok: false, error };
}

function emptySample(atMs: number): HealthSample {
  return {
    atMs,
    ok: true,
    error: undefined,
    activeRequests: undefined,
    maxConcurrent: undefined,
    queued: undefined,
    maxQueue: undefined,
    memoryPercent: undefined,
    memoryThresholdPercent: undefined,
    swapPercent: undefined,
    modelLoaded: undefined,
    idleTimeoutMinutes: undefined,
  };
}

/** Reads the /health/detailed fields (docs/API.md) defensively: a server that omits one still gets sampled. */
export function parseHealth(atMs: number, body: unknown): HealthSample {
  const concurrency = section(body, 'concurrency');
  const memory = section(body, 'memory');
  return {
    ...emptySample(atMs),
    activeRequests: numberField(concurrency, 'active_requests'),
    maxConcurrent: numberField(concurrency, 'max_concurrent'),
    queued: numberField(concurrency, 'queued'),
    maxQueue: numberField(concurrency, 'max_queue'),
    memoryPercent: numberField(memory, 'percent'),
    memoryThresholdPercent: numberField(memory, 'threshold_percent'),
    swapPercent: numberField(section(body, 'swap'), 'percent'),
    modelLoaded: booleanField(section(body, 'model'), 'loaded'),
    idleTimeoutMinutes: numberField(section(body, 'config'), 'idle_timeout_minutes'),
  };
}

function section(body: unknown, name: string): Record<string, unknown> | undefined {
  const value = (body as Record<string, unknown> | null)?.[name];
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

function numberField(object: Record<string, unknown> | undefined, name: string): number | undefined {
  const value = object?.[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function booleanField(object: Record<string, unknown> | undefined, name: string): boolean | undefined {
  const value = object?.[name];
  return typeof value === 'boolean' ? value : undefined;
}
