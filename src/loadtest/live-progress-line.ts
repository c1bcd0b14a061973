import { formatMs } from './duration.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { RequestRecord } from './load-test-result.js';

export interface LiveProgressOptions {
  /** Where the progress line goes (stderr): it is chatter, not the result. */
  progress: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where `--verbose` request lines go (stdout), in the form docs/LOAD_TESTING.md shows. */
  verbose: NodeJS.WritableStream | undefined;
  /** Seconds between plain progress lines when not on a terminal; 0 = none. */
  plainEverySeconds: number;
  now?: () => number;
}

/**
 * The live line: on a terminal it redraws in place; elsewhere (CI logs) it becomes a
 * plain line now and then, so logs stay readable.
 */
export class LiveProgressLine {
  readonly #options: LiveProgressOptions;
  readonly #now: () => number;
  #service = '';
  #done = 0;
  #errors = 0;
  #histogram = new LatencyHistogram();
  #startedAt = 0;
  #lastDraw = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LiveProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get #tty(): boolean {
    return this.#options.progress.isTTY === true;
  }

  startService(service: string): void {
    this.#finishLine();
    this.#service = service;
    this.#done = 0;
    this.#errors = 0;
    this.#histogram = new LatencyHistogram();
    this.#startedAt = this.#now();
    clearInterval(this.#timer);
    const everyMs = this.#tty ? 250 : this.#options.plainEverySeconds * 1000;
    if (everyMs > 0) {
      this.#timer = setInterval(() => this.#draw(), everyMs);
      this.#timer.unref();
    }
  }

  record(record: RequestRecord): void {
    if (record.cancelled) return;
    this.#done++;
    if (record.ok) this.#histogram.record(record.latencyMs);
    else this.#errors++;
    if (this.#options.verbose) {
      if (this.#tty) this.#options.progress.write('\r\x1b[K');
      this.#options.verbose.write(`${verboseLine(record)}\n`);
    }
  }

  /** Ends the live line; safe to call twice. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#finishLine();
  }

  #draw(): void {
    const elapsed = (this.#now() - this.#startedAt) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const p95 = this.#histogram.count > 0 ? formatMs(this.#histogram.percentileMs(95)) : 'n/a';
    const text = `[${this.#service}] ${this.#done} done, ${rate.toFixed(1)} req/s, ${this.#errors} errors, p95 ${p95}`;
    this.#options.progress.write(this.#tty ? `\r\x1b[K${text}` : `${text}\n`);
    this.#lastDraw = this.#now();
  }

  #finishLine(): void {
    if (this.#tty && this.#lastDraw > 0) {
      this.#draw();
      this.#options.progress.write('\n');
      this.#lastDraw = 0;
    }
  }
}

/** `[tts #12] 200 1.234s` or `[tts #13] 503 0.012s HTTP 503: Too many concurrent requests…`. */
export function verboseLine(record: RequestRecord): string {
  const status = record.status ?? '---';
  const seconds = `${(record.latencyMs / 1000).toFixed(3)}s`;
  const error = record.ok ? '' : ` ${record.error ?? 'failed'}`;
  return `[${record.service} #${record.id}] ${status} ${seconds}${error}`;
}
