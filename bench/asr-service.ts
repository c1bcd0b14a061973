/**
 * The ASR service's overhead: time per request through HTTP (multipart upload,
 * admission, decoding, formatting) against the same WhisperCppEngine called
 * directly, in the same run, on a generated model with the real `base`
 * dimensions (same compute as the real model). Also the real-time factor.
 *
 *   npm run build && node dist/bench/asr-service.js [--rounds 3] [--preset base] [--sizes 10,60]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { WhisperCppEngine } from '../src/asr/engines/whisper-cpp.js';
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

async function viaEngine(engine: WhisperCppEngine, path: string): Promise<number> {
  const started = performance.now();
  const audio = await decodeAudio({ path });
  await engine.transcribe(
    audio,
    { task: 'transcribe', language: 'en', wordTimestamps: false, vad: false },
    new AbortController().signal,
  );
  return performance.now() - started;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

export async function runAsrBench(options: {
  rounds: number;
  preset: WhisperPreset;
  sizes: number[];
}): Promise<string> {
  const modelPath = await modelFor(options.preset);
  const engine = new WhisperCppEngine({
    modelPath,
    modelName: options.preset,
    device: 'cpu',
    threads: THREADS,
  });
  await engine.load();
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: modelPath,
    ASR_CPU_THREADS: String(THREADS),
    MAX_CONCURRENT_REQUESTS: '1',
  });
  const lines = [
    `ASR service vs whisper.cpp binding called directly (generated '${options.preset}' model, ${THREADS} threads, median of ${options.rounds})`,
    'audio   direct      service     overhead   RTF(service)',
  ];
  try {
    for (const seconds of options.sizes) {
      const path = loopedSpeechWav(seconds);
      const file = readFileSync(path);
      await viaService(server.url('asr'), file); // warm-up: loads the service's model
      await viaEngine(engine, path);
      const direct: number[] = [];
      const service: number[] = [];
      for (let round = 0; round < options.rounds; round++) {
        // Alternate the order so drift on a shared machine hits both sides alike.
        if (round % 2 === 0) {
          direct.push(await viaEngine(engine, path));
          service.push(await viaService(server.url('asr'), file));
        } else {
          service.push(await viaService(server.url('asr'), file));
          direct.push(await viaEngine(engine, path));
        }
      }
      const d = median(direct);
      const s = median(service);
      lines.push(
        `${`${seconds}s`.padEnd(8)}${`${(d / 1000).toFixed(2)}s`.padEnd(12)}${`${(s / 1000).toFixed(2)}s`.padEnd(12)}${`${(((s - d) / d) * 100).toFixed(1)}%`.padEnd(11)}${(s / 1000 / seconds).toFixed(3)}`,
      );
    }
  } finally {
    await server.stop();
    await engine.unload();
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      preset: { type: 'string', default: 'base' },
      sizes: { type: 'string', default: '10,60' },
    },
  });
  console.log(
    await runAsrBench({
      rounds: Number(values.rounds),
      preset: values.preset as WhisperPreset,
      sizes: (values.sizes ?? '10,60').split(',').map(Number),
    }),
  );
}
