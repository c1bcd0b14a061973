/**
 * Which whisper.cpp is fastest for real speech (issue 15): the older build smart-whisper bundles
 * (compiled here with -march=native; ASR_WHISPER_BUILD=bundled) against the current release the
 * service runs by default (whisper.cpp 1.8.3 prebuilt with runtime CPU dispatch, from
 * @spader/node-whisper-cpp-x64-linux-cpu-gnu), on the same generated model with real `base` dimensions,
 * the same 11 s of 16 kHz espeak-ng speech, the same thread count, flash attention on and off.
 *
 * Each build is timed through whisper.cpp's own C API by bench/whisper-probe.c (compiled here
 * with cc), one process per build and setting, in alternating order (ABBA rounds) so drift on a
 * shared machine hits all alike: the encoder pass over the 30 s window, and single-token
 * decoder steps (what whisper_full runs per token; a random-weight model emits far more tokens
 * than speech does, so totals alone mislead). The projected total for a request is
 * encode + rate × seconds × per-token time, at a speech-like token rate (--rate, default 3
 * tokens/s: English speech runs ~150 words/min ≈ 2.5 words/s, and Whisper's BPE spends ~1.3
 * tokens per word) and at the random model's own rate (182 tokens in 11 s, issue 15's table).
 *
 *   npm run build && node dist/bench/whisper-engines.js [--candidate DIR] [--threads 2] [--rounds 2]
 *     [--encodes 1] [--tokens 16] [--rate 3]     (BENCH_VERBOSE=1 prints each probe as it ends)
 *
 * --candidate names the folder holding the candidate's libwhisper.so and its ggml CPU backends,
 * e.g. node_modules/@spader/node-whisper-cpp-x64-linux-cpu-gnu/bins (whisper.cpp 1.8.3 prebuilt,
 * runtime CPU dispatch); by default it is the installed package the service runs, and the line
 * says so when it is absent.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PREBUILT_WHISPER_PACKAGE, prebuiltWhisperDir } from '../src/asr/engines/current-whisper.js';
import { FIXTURE_DIR, loopedSpeechWav } from '../test/support/fixtures.js';
import { generateWhisperModel } from '../tools/gen-whisper-model.js';

const SECONDS = 11;
const RANDOM_MODEL_RATE = 182 / 11;
const CANDIDATE_PACKAGE = PREBUILT_WHISPER_PACKAGE;

interface Build {
  readonly name: string;
  readonly lib: string;
  /** Folder of ggml CPU backends to load first (runtime CPU dispatch builds). */
  readonly backends?: string;
  readonly flash: boolean;
}

interface ProbeResult {
  readonly encode_ms: number[];
  readonly decode_ms_per_token: number[];
  readonly encode_cpu_ms: number;
  readonly decode_cpu_ms_per_token: number;
  readonly max_rss_kb: number;
  readonly version: string;
}

const require = createRequire(import.meta.url);

function bundledLib(): string | undefined {
  try {
    const lib = join(
      dirname(require.resolve('smart-whisper/package.json')),
      'build',
      'Release',
      'smart-whisper.node',
    );
    return existsSync(lib) ? lib : undefined;
  } catch {
    return undefined;
  }
}

function candidateDir(given: string | undefined): string | undefined {
  if (given !== undefined) return existsSync(join(given, 'libwhisper.so')) ? given : undefined;
  // The installed package the service's default CPU build runs (it exports only its entry point).
  return prebuiltWhisperDir();
}

function buildProbe(): string {
  const source = fileURLToPath(new URL('../../bench/whisper-probe.c', import.meta.url));
  const out = join(FIXTURE_DIR, 'whisper-probe');
  execFileSync('cc', ['-O2', '-o', out, source, '-ldl']);
  return out;
}

function speechF32(): string {
  const path = join(FIXTURE_DIR, `speech-${SECONDS}s.f32`);
  if (!existsSync(path))
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', loopedSpeechWav(SECONDS), '-f', 'f32le', path]);
  return path;
}

function probe(
  exe: string,
  build: Build,
  model: string,
  pcm: string,
  threads: number,
  tokens: number,
  encodes: number,
): Promise<ProbeResult> {
  const args = [
    build.lib,
    model,
    pcm,
    String(threads),
    build.flash ? '1' : '0',
    String(encodes),
    String(tokens),
    '1',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, {
      env: { ...process.env, WHISPER_PROBE_BACKENDS: build.backends ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${build.name}: probe exited ${code}: ${err.slice(-400)}`));
      else resolve(JSON.parse(out) as ProbeResult);
    });
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

export async function runWhisperEngines(options: {
  candidate?: string | undefined;
  threads: number;
  rounds: number;
  tokens: number;
  encodes: number;
  rate: number;
}): Promise<string> {
  const bundled = bundledLib();
  if (bundled === undefined) return 'whisper-engines: skipped, smart-whisper was not built here';
  const candidate = candidateDir(options.candidate);
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const model = join(FIXTURE_DIR, 'ggml-base-random.bin');
  if (!existsSync(model)) await generateWhisperModel({ preset: 'base', outPath: model, seed: 11 });
  let exe: string;
  try {
    exe = buildProbe();
  } catch {
    return 'whisper-engines: skipped, no C compiler (cc) to build bench/whisper-probe.c';
  }
  const pcm = speechF32();
  const builds: Build[] = [
    { name: 'bundled (before)', lib: bundled, flash: false },
    { name: 'bundled, flash attention', lib: bundled, flash: true },
  ];
  if (candidate !== undefined) {
    const lib = join(candidate, 'libwhisper.so');
    builds.push({ name: '1.8.3, flash (service now)', lib, backends: candidate, flash: true });
    builds.push({ name: '1.8.3, no flash', lib, backends: candidate, flash: false });
  }
  const results = new Map<string, ProbeResult[]>(builds.map((b) => [b.name, []]));
  const loadBefore = loadavg()[0] ?? 0;
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      const result = await probe(exe, build, model, pcm, options.threads, options.tokens, options.encodes);
      results.get(build.name)?.push(result);
      if (process.env.BENCH_VERBOSE)
        console.error(`${build.name}: encode ${result.encode_ms} ms, ${result.decode_ms_per_token} ms/token`);
    }
  }
  const loadAfter = loadavg()[0] ?? 0;
  const lines = [
    `whisper.cpp builds on the same generated 'base' model and ${SECONDS} s of speech, ${options.threads} threads, ${options.rounds} alternating rounds (load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)})`,
    candidate === undefined
      ? `candidate: skipped, ${CANDIDATE_PACKAGE} is not installed (pass --candidate DIR holding its libwhisper.so)`
      : `candidate: ${candidate}`,
  ];
  const table = (
    clock: string,
    encodeOf: (r: ProbeResult) => number[],
    tokenOf: (r: ProbeResult) => number[],
  ) => {
    lines.push(
      `${clock}:`,
      `build                         version  encode s (range)      ms/token (range)    @${options.rate} tok/s   @${RANDOM_MODEL_RATE.toFixed(1)} tok/s  peak RSS   vs before @${options.rate}`,
    );
    let today: number | undefined;
    for (const build of builds) {
      const runs = results.get(build.name) ?? [];
      const encodes = runs.flatMap((r) => encodeOf(r).map((ms) => ms / 1000));
      const perToken = runs.flatMap(tokenOf);
      const encode = median(encodes);
      const token = median(perToken) / 1000;
      const speech = encode + options.rate * SECONDS * token;
      const random = encode + RANDOM_MODEL_RATE * SECONDS * token;
      today ??= speech;
      const rss = Math.max(...runs.map((r) => r.max_rss_kb)) / 1024;
      lines.push(
        `${build.name.padEnd(30)}${(runs[0]?.version ?? '?').padEnd(9)}${`${encode.toFixed(2)} (${range(encodes, 2)})`.padEnd(22)}${`${(token * 1000).toFixed(1)} (${range(perToken, 1)})`.padEnd(20)}${`${speech.toFixed(2)} s`.padEnd(13)}${`${random.toFixed(2)} s`.padEnd(14)}${`${rss.toFixed(0)} MB`.padEnd(11)}${(speech / today).toFixed(2)}×`,
      );
    }
  };
  table(
    'wall clock',
    (r) => r.encode_ms,
    (r) => r.decode_ms_per_token,
  );
  // With one thread, CPU time is the work itself: it holds on a loaded machine, where wall time
  // (and, with spinning worker threads, CPU time too) mostly measures the other load.
  table(
    `CPU time, all threads${options.threads === 1 ? ' (one thread: load-independent)' : ' (includes worker spin-waits)'}`,
    (r) => [r.encode_cpu_ms],
    (r) => [r.decode_cpu_ms_per_token],
  );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      candidate: { type: 'string' },
      threads: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '2' },
      tokens: { type: 'string', default: '16' },
      encodes: { type: 'string', default: '1' },
      rate: { type: 'string', default: '3' },
    },
  });
  console.log(
    await runWhisperEngines({
      candidate: values.candidate,
      threads: Number(values.threads),
      rounds: Number(values.rounds),
      tokens: Number(values.tokens),
      encodes: Number(values.encodes),
      rate: Number(values.rate),
    }),
  );
}
