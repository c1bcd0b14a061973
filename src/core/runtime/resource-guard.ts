import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Clock, systemClock } from './clock.js';

export interface MemoryReading {
  readonly percent: number;
  readonly availableMb: number;
  readonly totalMb: number;
  /** True when the totals come from a cgroup v2 memory limit (a container). */
  readonly cgroupLimited: boolean;
}

export interface SwapReading {
  readonly percent: number;
  readonly usedMb: number;
  readonly totalMb: number;
}

export interface ResourceReading {
  readonly memory: MemoryReading;
  readonly swap: SwapReading;
}

export type ResourceVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly resource: 'memory' | 'swap';
      readonly percent: number;
      readonly threshold: number;
    };

type ReadText = (path: string) => string | undefined;

interface CgroupMemory {
  readonly limit: number;
  readonly usage: number;
  readonly inactiveFile: number;
}

const MB = 1024 * 1024;

function readTextOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+)/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], Number(match[2]) * 1024);
  }
  return values;
}

function parseNumberFile(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed === 'max' || trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

function percentOf(part: number, whole: number): number {
  return whole > 0 ? (part / whole) * 100 : 0;
}

/**
 * Reads memory and swap use from the OS. Under a cgroup v2 memory limit (a
 * container or a systemd unit with MemoryMax) the limit is what the kernel's OOM
 * killer enforces, so it, not the host's RAM, is the total.
 */
export class ResourceMonitor {
  private cached: { at: number; reading: ResourceReading } | undefined;

  constructor(
    private readonly options: {
      readText?: ReadText;
      clock?: Clock;
      /** Readings are cached this long; reading /proc on every request shows in profiles. */
      cacheMs?: number;
    } = {},
  ) {}

  read(): ResourceReading {
    const clock = this.options.clock ?? systemClock;
    const now = clock.now();
    if (this.cached && now - this.cached.at < (this.options.cacheMs ?? 1000)) return this.cached.reading;
    const reading = this.readNow();
    this.cached = { at: now, reading };
    return reading;
  }

  private readNow(): ResourceReading {
    const readText = this.options.readText ?? readTextOrUndefined;
    const meminfo = parseMeminfo(readText('/proc/meminfo') ?? '');
    const hostTotal = meminfo.get('MemTotal') ?? 0;
    const hostAvailable = meminfo.get('MemAvailable') ?? meminfo.get('MemFree') ?? 0;
    const cgroupDir = this.findCgroupDir(readText);
    const memory = this.readMemory(readText, cgroupDir, hostTotal, hostAvailable);
    const swap = this.readSwap(readText, cgroupDir, meminfo);
    return { memory, swap };
  }

  private findCgroupDir(readText: ReadText): string | undefined {
    const line = readText('/proc/self/cgroup')
      ?.split('\n')
      .find((l) => l.startsWith('0::'));
    if (line === undefined) return undefined;
    return join('/sys/fs/cgroup', line.slice(3).trim());
  }

  /** The tightest numeric `memory.max` from the process's cgroup up to the root. */
  private findCgroupLimit(readText: ReadText, cgroupDir: string | undefined, file: string) {
    let best: { dir: string; limit: number } | undefined;
    for (let dir = cgroupDir; dir?.startsWith('/sys/fs/cgroup'); ) {
      const limit = parseNumberFile(readText(join(dir, file)));
      if (limit !== undefined && (best === undefined || limit < best.limit)) best = { dir, limit };
      const parent = dirname(dir);
      dir = parent === dir ? undefined : parent;
    }
    return best;
  }

  private readMemory(
    readText: ReadText,
    cgroupDir: string | undefined,
    hostTotal: number,
    hostAvailable: number,
  ): MemoryReading {
    const limited = this.cgroupV2Memory(readText, cgroupDir) ?? this.cgroupV1Memory(readText);
    if (limited !== undefined && limited.limit < hostTotal) {
      // Page cache that can be dropped is not pressure; `docker stats` subtracts it too.
      const used = Math.max(0, limited.usage - limited.inactiveFile);
      const available = Math.max(0, Math.min(limited.limit - used, hostAvailable));
      return this.memoryReading(limited.limit - available, limited.limit, true);
    }
    return this.memoryReading(hostTotal - hostAvailable, hostTotal, false);
  }

  private cgroupV2Memory(readText: ReadText, cgroupDir: string | undefined): CgroupMemory | undefined {
    const limit = this.findCgroupLimit(readText, cgroupDir, 'memory.max');
    if (limit === undefined) return undefined;
    const stat = readText(join(limit.dir, 'memory.stat')) ?? '';
    return {
      limit: limit.limit,
      usage: parseNumberFile(readText(join(limit.dir, 'memory.current'))) ?? 0,
      inactiveFile: Number(/^inactive_file (\d+)/m.exec(stat)?.[1] ?? 0),
    };
  }

  /** cgroup v1 (older Docker hosts, hybrid mounts): the memory controller's own folder. */
  private cgroupV1Memory(readText: ReadText): CgroupMemory | undefined {
    const line = readText('/proc/self/cgroup')
      ?.split('\n')
      .find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    if (line === undefined) return undefined;
    const path = line.slice(line.lastIndexOf(':') + 1).trim();
    for (const dir of [join('/sys/fs/cgroup/memory', path), '/sys/fs/cgroup/memory']) {
      const limit = parseNumberFile(readText(join(dir, 'memory.limit_in_bytes')));
      if (limit === undefined) continue;
      const stat = readText(join(dir, 'memory.stat')) ?? '';
      return {
        limit,
        usage: parseNumberFile(readText(join(dir, 'memory.usage_in_bytes'))) ?? 0,
        inactiveFile: Number(/^total_inactive_file (\d+)/m.exec(stat)?.[1] ?? 0),
      };
    }
    return undefined;
  }

  private memoryReading(used: number, total: number, cgroupLimited: boolean): MemoryReading {
    return {
      percent: round1(percentOf(used, total)),
      availableMb: Math.round((total - used) / MB),
      totalMb: Math.round(total / MB),
      cgroupLimited,
    };
  }

  private readSwap(
    readText: ReadText,
    cgroupDir: string | undefined,
    meminfo: Map<string, number>,
  ): SwapReading {
    let total = meminfo.get('SwapTotal') ?? 0;
    let used = total - (meminfo.get('SwapFree') ?? 0);
    const limit = this.findCgroupLimit(readText, cgroupDir, 'memory.swap.max');
    if (limit !== undefined && limit.limit < total) {
      total = limit.limit;
      used = parseNumberFile(readText(join(limit.dir, 'memory.swap.current'))) ?? used;
    }
    return {
      percent: round1(percentOf(used, total)),
      usedMb: Math.round(used / MB),
      totalMb: Math.round(total / MB),
    };
  }
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Decides whether new inference work may start, from a ResourceMonitor's reading. */
export class ResourceGuard {
  constructor(
    readonly monitor: ResourceMonitor,
    readonly memoryThresholdPercent: number,
    readonly swapThresholdPercent: number,
  ) {}

  check(): ResourceVerdict {
    const { memory, swap } = this.monitor.read();
    if (memory.percent > this.memoryThresholdPercent) {
      return {
        ok: false,
        resource: 'memory',
        percent: memory.percent,
        threshold: this.memoryThresholdPercent,
      };
    }
    // With no swap configured there is nothing to exhaust.
    if (swap.totalMb > 0 && swap.percent > this.swapThresholdPercent) {
      return { ok: false, resource: 'swap', percent: swap.percent, threshold: this.swapThresholdPercent };
    }
    return { ok: true };
  }
}
