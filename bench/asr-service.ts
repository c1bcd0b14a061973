/**
 * The ASR service's overhead: time per request through HTTP (multipart upload,
 * admission, decoding, resampling, formatting) against the whisper.cpp backend the
 * service runs on the CPU (by default whisper.cpp 1.8.3 prebuilt, current-whisper.ts;
 * --build bundled for smart-whisper's) called directly on the already-decoded samples
 * with the same parameters, in the same run, on a generated model with the real `base`
 * dimensions (same compute as the real model). The service is checked to run the same
 * build (/health/detailed's model.build). Also the real-time factor, and the prebuilt
 * @fugood binary (no AVX) for comparison with --prebuilt.
 *
 *   npm run build && node dist/bench/asr-service.js [--rounds 3] [--preset base] [--sizes 10,60]
 *     [--build current|bundled] [--prebuilt]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { loadCurrentWhisper, loadCurrentWhisperModule } from '../src/asr/engines/current-whisper.js';
import { loadFugoodWhisper } from '../src/asr/engines/fugood-whisper.js';
import { loadSmartWhisper, loadSmartWhisperModule } from '../src/asr/engines/smart-whisper.js';
import type { WhisperBackend } from '../src/asr/engines/whisper-backend.js';
import { inspectWhisperModelFile } from '../src/asr/whisper-model-file.js';
import { decodeAudio } from '../src/audio/decode.js';
import { FIXTURE_DIR, loopedSpeechWav } from '../test/support/fixtures.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { generateWhisperModel, type WhisperPreset } from '../tools/gen-whisper-model.js';

const THREADS = 2;

async function modelFor(preset: WhisperPreset): Promise<string> {
  const path = join(FIXTURE_DIR, `ggml-${preset}-random.bin`);
  if (!existsSync(path)) await generateWhisperModel({ preset, outPath: path, seed: 11 });
  return path;
}

async function viaService(baseUrl: string, file: Buffer): Promise<number> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file)]), 'speech.wav');
  form.append('model', 'whisper-1');
  form.append('language', 'en');
  const started = performance.now();
  const response = await request(`${baseUrl}/v1/audio/transcriptions`, { method: 'POST', body: form });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`service answered ${response.statusCode}`);
  return performance.now() - started;
}

type Build = 'current' | 'bundled';

/** The backend the service's engine drives, loaded here on its own. */
async function openBackend(build: Build, modelPath: string): Promise<WhisperBackend> {
  if (build === 'current') return loadCurrentWhisper(loadCurrentWhisperModule(), modelPath, THREADS);
  const { vocabularySize } = await inspectWhisperModelFile(modelPath);
  return loadSmartWhisper(loadSmartWhisperModule(), modelPath, THREADS, vocabularySize);
}

/** The backend alone: the parameters the engine passes, the whole input in one call. */
async function viaBackend(backend: WhisperBackend, samples: Float32Array): Promise<number> {
  const started = performance.now();
  await backend.transcribeWindow(
    samples,
    { language: 'en', translate: false, wordTimestamps: false },
    new AbortController().signal,
  );
  return performance.now() - started;
}

/** The prebuilt binary the CPU path used before, on the same samples, in 30 s windows as the engine feeds it. */
async function viaPrebuilt(modelPath: string, samples: Float32Array): Promise<number> {
  const backend = await loadFugoodWhisper({ modelPath, variant: 'cpu', threads: THREADS });
  try {
    const started = performance.now();
    for (let at = 0; at < samples.length; at += 30 * 16000) {
      await backend.transcribeWindow(
        samples.subarray(at, at + 30 * 16000),
        { language: 'en', translate: false, wordTimestamps: false },
        new AbortController().signal,
      );
    }
    return performance.now() - started;
  } finally {
    await backend.close();
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

export async function runAsrBench(options: {
  rounds: number;
  preset: WhisperPreset;
  sizes: number[];
  prebuilt: boolean;
  build?: Build;
}): Promise<string> {
  const build = options.build ?? 'current';
  const modelPath = await modelFor(options.preset);
  const backend = await openBackend(build, modelPath);
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: modelPath,
    ASR_CPU_THREADS: String(THREADS),
    ASR_WHISPER_BUILD: build,
    MAX_CONCURRENT_REQUESTS: '1',
  });
  const lines = [
    `ASR service vs the whisper.cpp backend it runs, called directly (generated '${options.preset}' model, ${THREADS} threads, median of ${options.rounds})`,
    `engine: ${backend.build}`,
    `audio   direct      service     overhead   RTF(service)${options.prebuilt ? '   prebuilt binary   service speed-up' : ''}`,
  ];
  try {
    for (const seconds of options.sizes) {
      const path = loopedSpeechWav(seconds);
      const file = readFileSync(path);
      const { samples } = await decodeAudio({ path });
      await viaService(server.url('asr'), file); // warm-up: loads the service's model
      const health = (await (await request(`${server.url('asr')}/health/detailed`)).body.json()) as {
        model?: { build?: string };
      };
      if (health.model?.build !== backend.build) {
        throw new Error(`the service runs '${health.model?.build}', not '${backend.build}'`);
      }
      await viaBackend(backend, samples);
      const direct: number[] = [];
      const service: number[] = [];
      for (let round = 0; round < options.rounds; round++) {
        // Alternate the order so drift on a shared machine hits both sides alike.
        if (round % 2 === 0) {
          direct.push(await viaBackend(backend, samples));
          service.push(await viaService(server.url('asr'), file));
        } else {
          service.push(await viaService(server.url('asr'), file));
          direct.push(await viaBackend(backend, samples));
        }
      }
      if (process.env.BENCH_VERBOSE)
        console.error(`${seconds}s direct ${direct.map(Math.round)} service ${service.map(Math.round)}`);
      const d = median(direct);
      const s = median(service);
      let line = `${`${seconds}s`.padEnd(8)}${`${(d / 1000).toFixed(2)}s`.padEnd(12)}${`${(s / 1000).toFixed(2)}s`.padEnd(12)}${`${(((s - d) / d) * 100).toFixed(1)}%`.padEnd(11)}${(s / 1000 / seconds).toFixed(3).padEnd(15)}`;
      if (options.prebuilt) {
        const p = await viaPrebuilt(modelPath, samples);
        line += `${`${(p / 1000).toFixed(2)}s`.padEnd(18)}${(p / s).toFixed(1)}x`;
      }
      lines.push(line);
    }
  } finally {
    await server.stop();
    await backend.close();
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      preset: { type: 'string', default: 'base' },
      sizes: { type: 'string', default: '10,60' },
      prebuilt: { type: 'boolean', default: false },
      build: { type: 'string', default: 'current' },
    },
  });
  console.log(
    await runAsrBench({
      rounds: Number(values.rounds),
      preset: values.preset as WhisperPreset,
      sizes: (values.sizes ?? '10,60').split(',').map(Number),
      prebuilt: values.prebuilt ?? false,
      build: values.build === 'bundled' ? 'bundled' : 'current',
    }),
  );
}
