/**
 * What runs on the ASR service's main thread while every slot transcribes (issue 15: `/health`
 * p99 under 5 ms at 200 req/s): a real `serve asr` under `node --cpu-prof`, every slot busy with
 * back-to-back 30 s transcriptions and `/health` at a constant rate, then every synchronous task
 * of at least --min-ms from the profile, with what ran in it. Unlike a latency percentile, a
 * task's length and content hardly depend on how loaded the machine is (the profile's samples
 * land on the main thread's own stack), so this is the figure to compare before and after a change.
 *
 *   npm run build && node dist/bench/main-thread-tasks.js [--seconds 20] [--slots 2] [--min-ms 2]
 *     [--interval-us 250] [--rate 200] [--format json] [--top 12] [--keep service.cpuprofile]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { healthTarget } from '../src/loadtest/health-target.js';
import { run } from '../src/loadtest/runner.js';
import { FIXTURE_DIR, loopedSpeechWav } from '../test/support/fixtures.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { generateWhisperModel } from '../tools/gen-whisper-model.js';
import { type CpuProfile, hasIdleSamples, mainThreadTasks, selfTimeTotals } from './cpu-profile-tasks.js';
import { busyThreadNice } from './health-under-load.js';

interface Options {
  readonly seconds: number;
  readonly slots: number;
  readonly minMs: number;
  readonly intervalUs: number;
  readonly rate: number;
  readonly format: string;
  readonly top: number;
  /** Where to keep the profile (for DevTools), if anywhere. */
  readonly keep: string | undefined;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

async function transcribeLoop(
  url: string,
  file: Buffer,
  format: string,
  signal: AbortSignal,
  onDone: () => void,
): Promise<void> {
  while (!signal.aborted) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(file)]), 'speech.wav');
    form.append('model', 'whisper-1');
    form.append('language', 'en');
    form.append('response_format', format);
    try {
      const response = await request(`${url}/v1/audio/transcriptions`, {
        method: 'POST',
        body: form,
        signal,
      });
      await response.body.text();
      if (response.statusCode === 200) onDone();
    } catch {
      // Aborted at the end.
    }
  }
}

/** Runs the load against a profiled service; returns the profile and the measured window. */
async function profileUnderLoad(
  model: string,
  options: Options,
): Promise<{ profile: CpuProfile; fromUs: number; toUs: number; done: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'voice-stack-cpu-prof-'));
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: model,
    MAX_CONCURRENT_REQUESTS: String(options.slots),
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_SECONDS: '3',
    NODE_OPTIONS: `--import ${fileURLToPath(new URL('cpu-profile-preload.js', import.meta.url))}`,
    VOICE_STACK_CPU_PROFILE: join(dir, 'service.cpuprofile'),
    VOICE_STACK_CPU_PROFILE_INTERVAL_US: String(options.intervalUs),
  });
  const stop = new AbortController();
  try {
    const url = server.url('asr');
    const file = readFileSync(loopedSpeechWav(30));
    let done = 0;
    const loops = Array.from({ length: options.slots }, () =>
      transcribeLoop(url, file, options.format, stop.signal, () => {
        done += 1;
      }),
    );
    // Warm: the model loaded and each slot through one request, so the code is compiled.
    for (let waited = 0; done < options.slots && waited < 600; waited++) await sleep(500);
    const pid = server.child.pid ?? 0;
    for (let wait = 0; (await busyThreadNice(pid)).busy.length < options.slots && wait < 20; wait++);
    const doneBefore = done;
    const fromUs = nowUs();
    const result = await run({
      targets: [healthTarget(url)],
      plan: {
        workers: 32,
        requests: undefined,
        durationMs: options.seconds * 1000,
        open: {
          arrival: 'constant',
          stages: [{ rate: options.rate, durationMs: options.seconds * 1000 }],
        },
      },
      together: false,
      timeoutMs: 10_000,
      sampleIntervalMs: 0,
    });
    const toUs = nowUs();
    const failed = result.services[0]?.stats.failed ?? 0;
    if (failed > 0) throw new Error(`/health failed ${failed} times`);
    stop.abort();
    await Promise.all(loops);
    // SIGINT: the service drains and exits, and node writes the profile on the way out.
    server.child.kill('SIGINT');
    await Promise.race([server.exited, sleep(30_000)]);
    const profileFile = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
    if (profileFile === undefined)
      throw new Error(
        `the service wrote no CPU profile (exit ${server.exitCode}): ${server.stdout.slice(-3000)}`,
      );
    const text = readFileSync(join(dir, profileFile), 'utf8');
    if (options.keep !== undefined) writeFileSync(options.keep, text);
    const profile = JSON.parse(text) as CpuProfile;
    return { profile, fromUs, toUs, done: done - doneBefore };
  } finally {
    stop.abort();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runMainThreadTasks(options: Options): Promise<string> {
  const model = join(FIXTURE_DIR, 'ggml-base-random.bin');
  if (!existsSync(model)) await generateWhisperModel({ preset: 'base', outPath: model, seed: 11 });
  const loadBefore = loadavg()[0] ?? 0;
  const { profile, fromUs, toUs, done } = await profileUnderLoad(model, options);
  const loadAfter = loadavg()[0] ?? 0;
  if (!hasIdleSamples(profile)) throw new Error('the profile marks no idle time: tasks cannot be told apart');
  // The profile's clock should be this process's monotonic clock; if not, take the whole profile.
  const aligned = fromUs >= profile.startTime && toUs <= profile.endTime;
  const window = aligned ? { fromUs, toUs } : {};
  const tasks = mainThreadTasks(profile, { minMs: options.minMs, ...window });
  const all = mainThreadTasks(profile, { minMs: 0, ...window });
  const busyMs = all.reduce((sum, task) => sum + task.durationMs, 0);
  const windowMs = aligned ? (toUs - fromUs) / 1000 : (profile.endTime - profile.startTime) / 1000;
  const fixed = (n: number, digits = 1) => n.toFixed(digits);
  const lines = [
    `main-thread tasks of serve asr over ${fixed(windowMs / 1000)} s${aligned ? '' : ' (whole profile: clocks not aligned)'}: ` +
      `${options.slots} slots transcribing 30 s requests (${done} done, response_format=${options.format}), ` +
      `/health at ${options.rate} req/s; sampled every ${options.intervalUs} µs; load average ${fixed(loadBefore)} → ${fixed(loadAfter)}`,
    `longest ${fixed(tasks[0]?.durationMs ?? all[0]?.durationMs ?? 0, 2)} ms; ` +
      `tasks ≥ ${options.minMs} ms: ${tasks.length}, ≥ 5 ms: ${all.filter((t) => t.durationMs >= 5).length}; ` +
      `main thread busy ${fixed(busyMs)} ms (${fixed((100 * busyMs) / windowMs)} %) in ${all.length} tasks`,
    '',
    `tasks ≥ ${options.minMs} ms by the project frame that ran longest in them: count, longest, total ms`,
  ];
  const bySource = new Map<string, { count: number; max: number; total: number }>();
  for (const task of tasks) {
    const key = task.source[0]?.frame ?? '?';
    const entry = bySource.get(key) ?? { count: 0, max: 0, total: 0 };
    entry.count += 1;
    entry.max = Math.max(entry.max, task.durationMs);
    entry.total += task.durationMs;
    bySource.set(key, entry);
  }
  for (const [source, entry] of [...bySource.entries()].sort((a, b) => b[1].max - a[1].max))
    lines.push(
      `  ${String(entry.count).padStart(4)}  ${fixed(entry.max, 2).padStart(7)}  ${fixed(entry.total).padStart(8)}  ${source}`,
    );
  lines.push(
    '',
    `the ${options.top} longest tasks: wall ms (samples × interval), the project frame, the largest self times:`,
  );
  for (const task of tasks.slice(0, options.top)) {
    const self = task.self
      .slice(0, 4)
      .map((s) => `${fixed(s.ms)} ${s.frame}`)
      .join('; ');
    const onCpu = (task.samples * options.intervalUs) / 1000;
    lines.push(
      `  ${fixed(task.durationMs, 2).padStart(7)} (${String(task.samples).padStart(3)} samples ≈ ${fixed(onCpu)} ms)  [${task.source[0]?.frame ?? '?'}]  ${self}`,
    );
  }
  lines.push('', 'self time over the window, busy samples only (ms):');
  for (const entry of selfTimeTotals(profile, window).slice(0, options.top))
    lines.push(`  ${fixed(entry.ms).padStart(8)}  ${entry.frame}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '20' },
      slots: { type: 'string', default: '2' },
      'min-ms': { type: 'string', default: '2' },
      'interval-us': { type: 'string', default: '250' },
      rate: { type: 'string', default: '200' },
      format: { type: 'string', default: 'json' },
      top: { type: 'string', default: '12' },
      keep: { type: 'string' },
    },
  });
  console.log(
    await runMainThreadTasks({
      seconds: Number(values.seconds),
      slots: Number(values.slots),
      minMs: Number(values['min-ms']),
      intervalUs: Number(values['interval-us']),
      rate: Number(values.rate),
      format: values.format,
      top: Number(values.top),
      keep: values.keep,
    }),
  );
}
