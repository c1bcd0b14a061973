/**
 * The ASR service's overhead: time per request through HTTP (multipart upload,
 * admission, decoding, resampling, formatting) against the whisper.cpp binding the
 * service uses on the CPU (smart-whisper, compiled here) called directly on the
 * already-decoded samples with the same parameters, in the same run, on a generated
 * model with the real `base` dimensions (same compute as the real model). Also the
 * real-time factor, and the prebuilt @fugood binary (no AVX) for comparison with --prebuilt.
 *
 *   npm run build && node dist/bench/asr-service.js [--rounds 3] [--preset base] [--sizes 10,60] [--prebuilt]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { loadFugoodWhisper } from '../src/asr/engines/fugood-whisper.js';
import { loadSmartWhisperModule, type SmartWhisperModule } from '../src/asr/engines/smart-whisper.js';
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

/** The binding alone: the parameters smart-whisper.ts passes, the whole input in one call. */
async function viaBinding(
  module: SmartWhisperModule,
  handle: unknown,
  samples: Float32Array,
): Promise<number> {
  const params = {
    strategy: 0,
    best_of: 5,
    language: 'en',
    translate: false,
    format: 'detail',
    no_context: false,
    n_threads: THREADS,
  };
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    module.binding.transcribe(
      handle,
      samples,
      params,
      (results) => (results instanceof Error ? reject(results) : resolve()),
      () => {},
    );
  });
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
}): Promise<string> {
  const modelPath = await modelFor(options.preset);
  const module = loadSmartWhisperModule();
  const model = await module.WhisperModel.load(modelPath, false);
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: modelPath,
    ASR_CPU_THREADS: String(THREADS),
    MAX_CONCURRENT_REQUESTS: '1',
  });
  const lines = [
    `ASR service vs the whisper.cpp binding called directly (generated '${options.preset}' model, ${THREADS} threads, median of ${options.rounds})`,
    `audio   direct      service     overhead   RTF(service)${options.prebuilt ? '   prebuilt binary   service speed-up' : ''}`,
  ];
  try {
    for (const seconds of options.sizes) {
      const path = loopedSpeechWav(seconds);
      const file = readFileSync(path);
      const { samples } = await decodeAudio({ path });
      await viaService(server.url('asr'), file); // warm-up: loads the service's model
      await viaBinding(module, model.handle, samples);
      const direct: number[] = [];
      const service: number[] = [];
      for (let round = 0; round < options.rounds; round++) {
        // Alternate the order so drift on a shared machine hits both sides alike.
        if (round % 2 === 0) {
          direct.push(await viaBinding(module, model.handle, samples));
          service.push(await viaService(server.url('asr'), file));
        } else {
          service.push(await viaService(server.url('asr'), file));
          direct.push(await viaBinding(module, model.handle, samples));
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
    await model.free();
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
    },
  });
  console.log(
    await runAsrBench({
      rounds: Number(values.rounds),
      preset: values.preset as WhisperPreset,
      sizes: (values.sizes ?? '10,60').split(',').map(Number),
      prebuilt: values.prebuilt ?? false,
    }),
  );
}
