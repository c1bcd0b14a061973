/**
 * Download progress for the terminal: a bar redrawn in place on a TTY, and plain
 * lines (every 10 % or 5 s) when stderr is a file or a pipe, so logs stay readable.
 */

export interface ProgressSample {
  readonly receivedBytes: number;
  readonly totalBytes: number | undefined;
}

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface DownloadProgressOptions {
  readonly label: string;
  readonly stream?: ProgressStream;
  /** Defaults to `stream.isTTY`. */
  readonly tty?: boolean;
  /** Milliseconds; injectable so tests need not wait. */
  readonly now?: () => number;
  readonly lineIntervalMs?: number;
  readonly redrawIntervalMs?: number;
}

const SPEED_WINDOW_MS = 5_000;
const BAR_WIDTH = 24;

export class DownloadProgressBar {
  readonly #label: string;
  readonly #stream: ProgressStream;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #lineIntervalMs: number;
  readonly #redrawIntervalMs: number;
  readonly #startedAt: number;
  #samples: Array<{ at: number; bytes: number }> = [];
  #last: ProgressSample = { receivedBytes: 0, totalBytes: undefined };
  #lastOutputAt = Number.NEGATIVE_INFINITY;
  #lastDecile = -1;
  #closed = false;

  constructor(options: DownloadProgressOptions) {
    this.#label = options.label;
    this.#stream = options.stream ?? process.stderr;
    this.#tty = options.tty ?? this.#stream.isTTY === true;
    this.#now = options.now ?? Date.now;
    this.#lineIntervalMs = options.lineIntervalMs ?? 5_000;
    this.#redrawIntervalMs = options.redrawIntervalMs ?? 100;
    this.#startedAt = this.#now();
  }

  update(sample: ProgressSample): void {
    if (this.#closed) return;
    const at = this.#now();
    this.#record(sample, at);
    if (this.#tty) this.#maybeRedraw(at);
    else this.#maybePrintLine(at);
  }

  /** Final state; ends the redrawn line on a TTY. */
  finish(message?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const elapsed = (this.#now() - this.#startedAt) / 1000;
    const summary = message ?? `done, ${formatBytes(this.#last.receivedBytes)} in ${formatDuration(elapsed)}`;
    if (this.#tty) this.#stream.write(`\r\x1b[2K${this.#render()}\n`);
    this.#stream.write(`${this.#label}: ${summary}\n`);
  }

  /** Leaves the bar where it stopped and moves to a fresh line for the error that follows. */
  fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tty && this.#lastOutputAt !== Number.NEGATIVE_INFINITY) this.#stream.write('\n');
  }

  #record(sample: ProgressSample, at: number): void {
    // A restart from zero (server ignored Range) invalidates the speed history.
    if (sample.receivedBytes < this.#last.receivedBytes) this.#samples = [];
    this.#last = sample;
    this.#samples.push({ at, bytes: sample.receivedBytes });
    while (this.#samples.length > 2 && (this.#samples[0]?.at ?? at) < at - SPEED_WINDOW_MS) {
      this.#samples.shift();
    }
  }

  #maybeRedraw(at: number): void {
    const complete = this.#last.totalBytes !== undefined && this.#last.receivedBytes >= this.#last.totalBytes;
    if (!complete && at - this.#lastOutputAt < this.#redrawIntervalMs) return;
    this.#lastOutputAt = at;
    this.#stream.write(`\r\x1b[2K${this.#render()}`);
  }

  #maybePrintLine(at: number): void {
    const decile = this.#decile();
    const crossed = decile !== undefined && decile > this.#lastDecile;
    if (!crossed && at - this.#lastOutputAt < this.#lineIntervalMs) return;
    if (decile !== undefined) this.#lastDecile = Math.max(this.#lastDecile, decile);
    this.#lastOutputAt = at;
    this.#stream.write(`${this.#label}: ${this.#describe()}\n`);
  }

  #decile(): number | undefined {
    const fraction = this.#fraction();
    return fraction === undefined ? undefined : Math.floor(fraction * 10);
  }

  #fraction(): number | undefined {
    const { receivedBytes, totalBytes } = this.#last;
    if (totalBytes === undefined || totalBytes <= 0) return undefined;
    return Math.min(1, receivedBytes / totalBytes);
  }

  #render(): string {
    const fraction = this.#fraction();
    const width = Math.max(8, Math.min(BAR_WIDTH, (this.#stream.columns ?? 80) - 60));
    const bar = fraction === undefined ? '' : ` [${renderBar(fraction, width)}]`;
    return `${this.#label}${bar} ${this.#describe()}`;
  }

  #describe(): string {
    const { receivedBytes, totalBytes } = this.#last;
    const fraction = this.#fraction();
    const percent = fraction === undefined ? '' : `${Math.floor(fraction * 100)}% `;
    const amount =
      totalBytes === undefined ? formatBytes(receivedBytes) : formatPair(receivedBytes, totalBytes);
    const speed = this.#speed();
    const rate = speed === undefined ? '' : `, ${formatBytes(speed)}/s`;
    const eta = this.#eta(speed);
    return `${percent}${amount}${rate}${eta === undefined ? '' : `, ETA ${formatDuration(eta)}`}`;
  }

  /** Bytes per second over the last few seconds. */
  #speed(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.at - first.at < 200) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }

  #eta(speed: number | undefined): number | undefined {
    const { receivedBytes, totalBytes } = this.#last;
    if (totalBytes === undefined || speed === undefined || speed <= 0) return undefined;
    return Math.max(0, totalBytes - receivedBytes) / speed;
  }
}

function renderBar(fraction: number, width: number): string {
  const filled = Math.round(fraction * width);
  return '#'.repeat(filled) + '-'.repeat(width - filled);
}

/** Decimal units, as download sizes are usually quoted (`141.1 MB`). */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** Both figures in the unit of the total: `62.1/141.1 MB`, `0.62/3.10 GB`. */
function formatPair(received: number, total: number): string {
  const [divisor, unit, digits] = total >= 1e9 ? [1e9, 'GB', 2] : [1e6, 'MB', 1];
  return `${(received / divisor).toFixed(digits)}/${(total / divisor).toFixed(digits)} ${unit}`;
}

/** `0:07`, `12:30`, `1:02:03`. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
