/**
 * How long the ASR service's event loop is held at a time while every slot transcribes (issue 15:
 * `/health` p99 under 5 ms at 200 req/s), and by what: a real `serve asr` with
 * cpu-profile-preload.ts loaded, every slot busy with back-to-back 30 s transcriptions and
 * `/health` at a constant rate. A 1 ms timer in the service reads its main thread's CPU time at
 * every tick, so each late tick says how long the loop was held and how much of that was work on
 * a CPU, which, unlike a latency percentile, is about the same on a loaded machine as on a quiet
 * one: the figure to compare before and after a change. For each of the longest holds, the CPU
 * profile says what ran. --min-ms sets the hold counted in the summary.
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
import type { EventLoopStall } from './cpu-profile-preload.js';
import { busyThreadNice } from './health-under-load.js';
import { type CpuProfile, ProfileIndex, type Ranked } from './profile-index.js';

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
): Promise<{ profile: CpuProfile; stalls: EventLoopStall[]; fromUs: number; toUs: number; done: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'voice-stack-cpu-prof-'));
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: model,
    MAX_CONCURRENT_REQUESTS: String(options.slots),
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_SECONDS: '3',
    NODE_OPTIONS: `--import ${fileURLToPath(new URL('cpu-profile-preload.js', import.meta.url))}`,
    VOICE_STACK_CPU_PROFILE: join(dir, 'service.cpuprofile'),
    VOICE_STACK_CPU_PROFILE_INTERVAL_US: String(options.intervalUs),
  }).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
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
    const stalls = JSON.parse(
      readFileSync(join(dir, `${profileFile}.stalls.json`), 'utf8'),
    ) as EventLoopStall[];
    return { profile, stalls, fromUs, toUs, done: done - doneBefore };
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
  const { profile, stalls: allStalls, fromUs, toUs, done } = await profileUnderLoad(model, options);
  const loadAfter = loadavg()[0] ?? 0;
  const index = new ProfileIndex(profile);
  // The kernel brings a running thread's CPU time up to date at scheduler ticks, so a reading can
  // lag by one and a short hold show more CPU than wall time: never more than its wall time.
  const stalls = allStalls
    .filter((stall) => stall.endUs >= fromUs && stall.endUs <= toUs)
    .map((stall) => ({ ...stall, cpuMs: Math.min(stall.cpuMs, stall.wallMs) }))
    .sort((a, b) => b.cpuMs - a.cpuMs);
  const fixed = (n: number, digits = 1) => n.toFixed(digits);
  const longest = stalls[0];
  const lines = [
    `the event loop of serve asr over ${fixed((toUs - fromUs) / 1e6)} s: ${options.slots} slots transcribing 30 s ` +
      `requests (${done} done, response_format=${options.format}), /health at ${options.rate} req/s; ` +
      `load average ${fixed(loadBefore)} → ${fixed(loadAfter)}`,
    `longest hold of the main thread: ${fixed(longest?.cpuMs ?? 0, 2)} ms on a CPU (${fixed(longest?.wallMs ?? 0, 2)} ms wall); ` +
      `holds of ≥ ${options.minMs} ms CPU: ${stalls.filter((s) => s.cpuMs >= options.minMs).length}, ` +
      `≥ 5 ms: ${stalls.filter((s) => s.cpuMs >= 5).length}; longest wall: ` +
      `${fixed(Math.max(0, ...stalls.map((s) => s.wallMs)), 2)} ms`,
    '',
    `the ${options.top} longest holds (between two ticks of a 1 ms timer), main-thread CPU ms and wall ms, ` +
      `with what the profile (sampled every ${options.intervalUs} µs) saw run in them:`,
  ];
  for (const stall of stalls.slice(0, options.top)) {
    const activity = index.activity(stall.endUs - stall.wallMs * 1000, stall.endUs);
    const show = (ranked: readonly Ranked[]) =>
      ranked
        .slice(0, 4)
        .map((r) => `${fixed(r.ms)} ${r.frame}`)
        .join('; ');
    lines.push(
      `  ${fixed(stall.cpuMs, 2).padStart(6)} cpu ${fixed(stall.wallMs, 2).padStart(6)} wall  ${activity.samples} samples`,
      `      project frames: ${show(activity.source)}`,
      `      self:           ${show(activity.self)}`,
    );
  }
  lines.push('', 'self time over the window, busy samples only (ms):');
  for (const entry of index.activity(fromUs, toUs).self.slice(0, options.top))
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
