/**
 * One real `voice-stack serve` (both services, the generated whisper model, a private
 * TMPDIR) and the checks every seeded runner makes on it afterwards: slots and queue
 * back to 0, no file left in the spool, the process alive, its RSS.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { testWhisperModel } from '../support/fixtures.js';
import { ServiceProcess } from '../support/service-process.js';

export interface LiveServices {
  readonly server: ServiceProcess;
  readonly bases: { readonly asr: string; readonly tts: string };
  readonly pid: number;
  /** The private root for this run's generated files; the spool lives under `spoolRoot`. */
  readonly root: string;
  /** The TMPDIR the services were given: every upload spool and decode folder lands here. */
  readonly spoolRoot: string;
}

/** Starts both services with their temporary files under a fresh folder of their own. */
export async function startLiveServices(
  prefix: string,
  env: Record<string, string> = {},
): Promise<LiveServices> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const spoolRoot = join(root, 'tmp');
  mkdirSync(spoolRoot);
  const server = await ServiceProcess.start(['serve'], {
    ASR_MODEL: await testWhisperModel(),
    TMPDIR: spoolRoot,
    ...env,
  });
  const bases = { asr: server.url('asr'), tts: server.url('tts') };
  return { server, bases, pid: server.child.pid as number, root, spoolRoot };
}

/**
 * Where src/asr/upload.ts spools this process's uploads (`voice-stack-uploads-<pid>`
 * under TMPDIR); a runner checks it exists, so an empty spool is not a wrong path.
 */
export function uploadSpoolDir(live: LiveServices): string {
  return join(live.spoolRoot, `voice-stack-uploads-${live.pid}`);
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Every plain file below `dir`: folders alone are not leaks, files in them are. */
export function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...filesUnder(path));
    else found.push(path);
  }
  return found;
}

/** Polls /health/detailed until no slot is held and nothing is queued, or `timeoutMs` passes. */
export async function settle(base: string, timeoutMs = 30_000): Promise<{ active: number; queued: number }> {
  let last = { active: -1, queued: -1 };
  const deadline = Date.now() + timeoutMs;
  do {
    const response = await request(`${base}/health/detailed`);
    const body = (await response.body.json()) as { concurrency: { active_requests: number; queued: number } };
    last = { active: body.concurrency.active_requests, queued: body.concurrency.queued };
    if (last.active === 0 && last.queued === 0) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < deadline);
  return last;
}

/**
 * Files under `dir` once the spool has had `timeoutMs` to drain: spool files are
 * removed after their writer closes, a moment after the response or the abort.
 */
export async function settledFiles(dir: string, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let files = filesUnder(dir);
  while (files.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    files = filesUnder(dir);
  }
  return files;
}

/** Polls /health on every base every 100 ms and keeps the slowest answer. */
export function startHealthPoller(bases: string[]): { stop: () => Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const base of bases) {
        const started = performance.now();
        try {
          const response = await request(`${base}/health`, { signal: AbortSignal.timeout(5000) });
          await response.body.dump();
        } catch {
          // A refused /health counts as the full timeout.
        }
        max = Math.max(max, performance.now() - started);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

/** What every fuzz run reports after its own counts. */
export interface FuzzOutcome {
  readonly passed: boolean;
  readonly failures: readonly string[];
  readonly maxHealthMs: number;
  readonly rssWarmMb: number;
  readonly rssPeakMb: number;
}

/** The closing lines of a fuzz report: /health and RSS, the first failures, the verdict. */
export function outcomeLines(report: FuzzOutcome, seed: number): string[] {
  const lines = [
    `/health max ${report.maxHealthMs.toFixed(0)} ms; RSS warm ${report.rssWarmMb.toFixed(0)} MB, peak ${report.rssPeakMb.toFixed(0)} MB`,
    ...report.failures.slice(0, 40).map((f) => `FAIL ${f}`),
  ];
  if (report.failures.length > 40) lines.push(`… and ${report.failures.length - 40} more failures`);
  lines.push(
    report.passed
      ? 'PASS'
      : `FAIL: ${report.failures.length} failures (replay one with --seed ${seed} --only N)`,
  );
  return lines;
}

/** A numeric command-line flag (`--seed 7`), or undefined when absent. */
export function numericFlag(name: string): number | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? undefined : Number(process.argv[at + 1]);
}
