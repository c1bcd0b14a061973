/**
 * Reading a V8 CPU profile (`.cpuprofile`, as `node --cpu-prof` or an inspector session writes
 * it) for what ran on the main thread: over any stretch of time, the self time per function and
 * the project frame (a file under dist/src, bench or test) nearest the top of each sample's stack.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

/** The parts of Chrome DevTools' `.cpuprofile` format read here. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** Microseconds, on the monotonic clock (process.hrtime's on Linux). */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Ranked {
  readonly frame: string;
  readonly ms: number;
}

export interface Activity {
  /** Samples not idle in the stretch. */
  readonly samples: number;
  /** Self time by function, largest first: `name (file:line)`. */
  readonly self: readonly Ranked[];
  /** By the project frame nearest the top of the stack, largest first. */
  readonly source: readonly Ranked[];
}

const IDLE = '(idle)';

function frameLabel(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  const file = frame.url.replace(/^file:\/\//, '');
  const short = file.includes('/node_modules/')
    ? file.slice(file.lastIndexOf('/node_modules/') + 14)
    : file.includes('/dist/')
      ? file.slice(file.lastIndexOf('/dist/') + 6)
      : file;
  return `${name} (${short}:${frame.lineNumber + 1})`;
}

function isProjectFrame(frame: CallFrame): boolean {
  return /\/dist\/(src|bench|test)\//.test(frame.url) && !frame.url.includes('/node_modules/');
}

function ranked(totals: Map<string, number>): Ranked[] {
  return [...totals.entries()].map(([frame, ms]) => ({ frame, ms })).sort((a, b) => b.ms - a.ms);
}

/** A profile indexed once, to ask what ran in many stretches of it. */
export class ProfileIndex {
  readonly #byId = new Map<number, ProfileNode>();
  readonly #parent = new Map<number, number>();
  readonly #source = new Map<number, string>();
  /** Each sample's time, µs. */
  readonly #times: number[] = [];

  constructor(readonly profile: CpuProfile) {
    for (const node of profile.nodes) {
      this.#byId.set(node.id, node);
      for (const child of node.children ?? []) this.#parent.set(child, node.id);
    }
    let t = profile.startTime;
    for (const delta of profile.timeDeltas) {
      t += delta;
      this.#times.push(t);
    }
  }

  /** Whether the profile marks idle time at all. */
  hasIdleSamples(): boolean {
    return this.profile.samples.some((id) => this.#byId.get(id)?.callFrame.functionName === IDLE);
  }

  /** What ran between fromUs and toUs; a sample's time runs to the next sample's. */
  activity(fromUs: number, toUs: number): Activity {
    const self = new Map<string, number>();
    const source = new Map<string, number>();
    let samples = 0;
    const { samples: ids, endTime } = this.profile;
    for (let i = this.#firstAtOrAfter(fromUs); i < ids.length; i++) {
      const at = this.#times[i] as number;
      if (at >= toUs) break;
      const node = this.#byId.get(ids[i] as number);
      if (node === undefined || node.callFrame.functionName === IDLE) continue;
      const ms = (Math.min(toUs, this.#times[i + 1] ?? endTime) - at) / 1000;
      samples += 1;
      self.set(frameLabel(node.callFrame), (self.get(frameLabel(node.callFrame)) ?? 0) + ms);
      const from = this.#projectSource(node.id);
      source.set(from, (source.get(from) ?? 0) + ms);
    }
    return { samples, self: ranked(self), source: ranked(source) };
  }

  #firstAtOrAfter(us: number): number {
    let low = 0;
    let high = this.#times.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.#times[mid] as number) < us) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #projectSource(id: number): string {
    const cached = this.#source.get(id);
    if (cached !== undefined) return cached;
    let label: string | undefined;
    for (
      let at: number | undefined = id;
      at !== undefined && label === undefined;
      at = this.#parent.get(at)
    ) {
      const frame = this.#byId.get(at)?.callFrame;
      if (frame !== undefined && isProjectFrame(frame)) label = frameLabel(frame);
    }
    const own = this.#byId.get(id)?.callFrame;
    const result = label ?? (own === undefined ? '?' : `(no project frame) ${frameLabel(own)}`);
    this.#source.set(id, result);
    return result;
  }
}
