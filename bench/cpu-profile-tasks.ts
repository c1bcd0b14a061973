/**
 * The synchronous tasks in a V8 CPU profile (`node --cpu-prof`): every run of samples between
 * two "(idle)" samples is one stretch the event loop spent away from polling, i.e. one task
 * that delayed whatever request came in meanwhile. For each task: how long, and what ran
 * (self time per function, and the deepest frame of this project's code on the stack).
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
  /** Microseconds, on the same monotonic clock as process.hrtime on Linux. */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface MainThreadTask {
  /** Microseconds on the profile's clock. */
  readonly startUs: number;
  readonly durationMs: number;
  /**
   * Samples taken in it. Signals to a thread that is not running coalesce, so on a loaded machine
   * samples × interval tracks the time the task was on a CPU, where durationMs is wall time.
   */
  readonly samples: number;
  /** Self time by function, largest first: `name (file:line)` → ms. */
  readonly self: ReadonlyArray<{ readonly frame: string; readonly ms: number }>;
  /** The project frame (a file under src/) nearest the top of the stack, by time, largest first. */
  readonly source: ReadonlyArray<{ readonly frame: string; readonly ms: number }>;
}

const IDLE = '(idle)';

function frameLabel(frame: CallFrame): string {
  if (frame.url === '') return frame.functionName || '(anonymous)';
  const file = frame.url.replace(/^file:\/\//, '');
  const short = file.includes('/node_modules/')
    ? file.slice(file.lastIndexOf('/node_modules/') + 14)
    : file.includes('/dist/')
      ? file.slice(file.lastIndexOf('/dist/') + 6)
      : file.replace(/^node:/, 'node:');
  return `${frame.functionName || '(anonymous)'} (${short}:${frame.lineNumber + 1})`;
}

function isProjectFrame(frame: CallFrame): boolean {
  return /\/dist\/(src|bench|test)\//.test(frame.url) && !frame.url.includes('/node_modules/');
}

function ranked(totals: Map<string, number>): Array<{ frame: string; ms: number }> {
  return [...totals.entries()].map(([frame, ms]) => ({ frame, ms })).sort((a, b) => b.ms - a.ms);
}

function add(totals: Map<string, number>, key: string, ms: number): void {
  totals.set(key, (totals.get(key) ?? 0) + ms);
}

/**
 * The tasks of at least `minMs` that start within [fromUs, toUs) (the whole profile when
 * unset), longest first. A sample's time runs to the next sample's.
 */
export function mainThreadTasks(
  profile: CpuProfile,
  options: { minMs: number; fromUs?: number; toUs?: number },
): MainThreadTask[] {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const sourceOf = new Map<number, string>();
  const projectSource = (id: number): string => {
    const cached = sourceOf.get(id);
    if (cached !== undefined) return cached;
    let label: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame !== undefined && isProjectFrame(frame)) {
        label = frameLabel(frame);
        break;
      }
    }
    const own = byId.get(id)?.callFrame;
    const result = label ?? (own ? `(no project frame) ${frameLabel(own)}` : '?');
    sourceOf.set(id, result);
    return result;
  };

  const times: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) {
    t += delta;
    times.push(t);
  }
  const from = options.fromUs ?? Number.NEGATIVE_INFINITY;
  const to = options.toUs ?? Number.POSITIVE_INFINITY;
  const tasks: MainThreadTask[] = [];
  let open:
    | { startUs: number; samples: number; self: Map<string, number>; source: Map<string, number> }
    | undefined;
  const close = (endUs: number) => {
    if (open === undefined) return;
    const durationMs = (endUs - open.startUs) / 1000;
    if (durationMs >= options.minMs && open.startUs >= from && open.startUs < to)
      tasks.push({
        startUs: open.startUs,
        durationMs,
        samples: open.samples,
        self: ranked(open.self),
        source: ranked(open.source),
      });
    open = undefined;
  };
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    const at = times[i] as number;
    const next = times[i + 1] ?? profile.endTime;
    if (node === undefined || node.callFrame.functionName === IDLE) {
      close(at);
      continue;
    }
    open ??= { startUs: at, samples: 0, self: new Map(), source: new Map() };
    open.samples += 1;
    const ms = (next - at) / 1000;
    add(open.self, frameLabel(node.callFrame), ms);
    add(open.source, projectSource(node.id), ms);
  }
  close(profile.endTime);
  return tasks.sort((a, b) => b.durationMs - a.durationMs);
}

/** Whether the profile marks idle time at all (without it every sample would look busy). */
export function hasIdleSamples(profile: CpuProfile): boolean {
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === IDLE).map((n) => n.id));
  return profile.samples.some((id) => idle.has(id));
}

/** Self time per function over [fromUs, toUs), busy samples only, largest first. */
export function selfTimeTotals(
  profile: CpuProfile,
  options: { fromUs?: number; toUs?: number } = {},
): Array<{ frame: string; ms: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let t = profile.startTime;
  const times = profile.timeDeltas.map((delta) => {
    t += delta;
    return t;
  });
  for (let i = 0; i < profile.samples.length; i++) {
    const at = times[i] as number;
    if (at < (options.fromUs ?? Number.NEGATIVE_INFINITY) || at >= (options.toUs ?? Number.POSITIVE_INFINITY))
      continue;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined || node.callFrame.functionName === IDLE) continue;
    add(totals, frameLabel(node.callFrame), ((times[i + 1] ?? profile.endTime) - at) / 1000);
  }
  return ranked(totals);
}
