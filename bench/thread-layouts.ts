/**
 * How to lay the cores out among ASR slots (issue 15): slots × threads per inference
 * (MAX_CONCURRENT_REQUESTS × ASR_CPU_THREADS), against a real `serve asr` on a generated model
 * with real `base` dimensions, for 1…N concurrent 30 s requests sent at once. Prints, per layout
 * and concurrency, the throughput (audio seconds transcribed per wall second) and the mean and
 * worst request latency. Layouts run one after another, in reverse order on even rounds.
 *
 * A random-weight model decodes far more tokens per window than speech does, which weights the
 * decoder (which gains little from a second thread) more than real traffic would.
 *
 *   npm run build && node dist/bench/thread-layouts.js [--layouts 2x1,1x2,2x2,1x1] [--concurrency 1,2,4] [--rounds 1]
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { FIXTURE_DIR, loopedSpeechWav } from '../test/support/fixtures.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { generateWhisperModel } from '../tools/gen-whisper-model.js';

const AUDIO_SECONDS = 30;

interface Layout {
  readonly slots: number;
  readonly threads: number;
}

interface Cell {
  readonly throughput: number;
  readonly meanS: number;
  readonly maxS: number;
}

async function transcribe(url: string, file: Buffer): Promise<number> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file)]), 'speech.wav');
  form.append('model', 'whisper-1');
  form.append('language', 'en');
  const started = performance.now();
  const response = await request(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`service answered ${response.statusCode}`);
  return (performance.now() - started) / 1000;
}

async function measureLayout(model: string, layout: Layout, levels: number[]): Promise<Map<number, Cell>> {
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: model,
    MAX_CONCURRENT_REQUESTS: String(layout.slots),
    ASR_CPU_THREADS: String(layout.threads),
    LOG_LEVEL: 'info',
  });
  const cells = new Map<number, Cell>();
  try {
    const url = server.url('asr');
    const file = readFileSync(loopedSpeechWav(AUDIO_SECONDS));
    await transcribe(url, readFileSync(loopedSpeechWav(2))); // loads the model
    for (const concurrency of levels) {
      const started = performance.now();
      const latencies = await Promise.all(Array.from({ length: concurrency }, () => transcribe(url, file)));
      const wall = (performance.now() - started) / 1000;
      cells.set(concurrency, {
        throughput: (concurrency * AUDIO_SECONDS) / wall,
        meanS: latencies.reduce((a, b) => a + b, 0) / latencies.length,
        maxS: Math.max(...latencies),
      });
      if (process.env.BENCH_VERBOSE)
        console.error(
          `${layout.slots}x${layout.threads} c=${concurrency}: ${latencies.map((l) => l.toFixed(1))} s`,
        );
    }
  } finally {
    await server.stop();
  }
  return cells;
}

export async function runThreadLayouts(options: {
  layouts: Layout[];
  levels: number[];
  rounds: number;
}): Promise<string> {
  const model = join(FIXTURE_DIR, 'ggml-base-random.bin');
  if (!existsSync(model)) await generateWhisperModel({ preset: 'base', outPath: model, seed: 11 });
  const results = new Map<string, Map<number, Cell>[]>();
  const loadBefore = loadavg()[0] ?? 0;
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? options.layouts : [...options.layouts].reverse();
    for (const layout of order) {
      const key = `${layout.slots}x${layout.threads}`;
      results.set(key, [...(results.get(key) ?? []), await measureLayout(model, layout, options.levels)]);
    }
  }
  const loadAfter = loadavg()[0] ?? 0;
  const lines = [
    `slots × threads on ${availableParallelism()} cores, ${AUDIO_SECONDS} s requests sent at once, generated 'base' model, ${options.rounds} round(s) (load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)})`,
    `throughput = audio s per wall s (higher is better); latency mean/worst in s`,
    `layout  ${options.levels.map((c) => `${c} concurrent`.padEnd(22)).join('')}`,
  ];
  for (const layout of options.layouts) {
    const key = `${layout.slots}x${layout.threads}`;
    const runs = results.get(key) ?? [];
    const cells = options.levels.map((concurrency) => {
      const values = runs.map((run) => run.get(concurrency)).filter((cell) => cell !== undefined);
      const mean = (pick: (cell: Cell) => number) =>
        values.reduce((sum, cell) => sum + pick(cell), 0) / values.length;
      return `${mean((c) => c.throughput).toFixed(2)}× ${mean((c) => c.meanS).toFixed(1)}/${mean((c) => c.maxS).toFixed(1)}`.padEnd(
        22,
      );
    });
    lines.push(`${key.padEnd(8)}${cells.join('')}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      layouts: { type: 'string', default: '2x1,1x2,2x2,1x1' },
      concurrency: { type: 'string', default: '1,2,4' },
      rounds: { type: 'string', default: '1' },
    },
  });
  const layouts = (values.layouts ?? '').split(',').map((text) => {
    const [slots, threads] = text.split('x').map(Number);
    return { slots: slots ?? 1, threads: threads ?? 1 };
  });
  console.log(
    await runThreadLayouts({
      layouts,
      levels: (values.concurrency ?? '1').split(',').map(Number),
      rounds: Number(values.rounds),
    }),
  );
}
