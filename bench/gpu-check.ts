/**
 * The GPU path, proved on a machine with an NVIDIA GPU (run through scripts/gpu-check.sh):
 * for 60 s of speech on generated models with the `base` and `large-v3-turbo` dimensions,
 * the CUDA build of whisper.cpp called directly and the ASR service on it (ASR_DEVICE=cuda),
 * each as RTFx (audio seconds per wall second), after checking that the work really ran on
 * the GPU: the binding must report its CUDA backend, the service must report device `cuda`,
 * and nvidia-smi must list the process holding GPU memory. A silent CPU fallback fails.
 *
 * With --tts, also Kokoro (generated, real dimensions) on onnxruntime's CUDA execution
 * provider against the same service on the CPU.
 *
 *   node dist/bench/gpu-check.js [--presets base,large-v3-turbo] [--seconds 60] [--tts]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { loadFugoodWhisper } from '../src/asr/engines/fugood-whisper.js';
import type { WhisperBackend } from '../src/asr/engines/whisper-backend.js';
import { decodeAudio } from '../src/audio/decode.js';
import { FIXTURE_DIR, loopedSpeechWav } from '../test/support/fixtures.js';
import { detailedHealth } from '../test/support/http.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { kokoroTestEnv } from '../test/support/tts-models.js';
import { generateWhisperModel, type WhisperPreset } from '../tools/gen-whisper-model.js';

const WINDOW_SAMPLES = 30 * 16_000;
const THREADS = 4;

async function modelFor(preset: WhisperPreset): Promise<string> {
  const path = join(FIXTURE_DIR, `ggml-${preset}-random.bin`);
  if (!existsSync(path)) await generateWhisperModel({ preset, outPath: path, seed: 11 });
  return path;
}

/** MiB of GPU memory nvidia-smi says `pid` holds; 0 when it is not listed. */
function gpuMemoryMiB(pid: number): number {
  const out = spawnSync(
    'nvidia-smi',
    ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'],
    {
      encoding: 'utf8',
    },
  );
  for (const line of (out.stdout ?? '').split('\n')) {
    const [listed, used] = line.split(',').map((field) => field.trim());
    if (Number(listed) === pid) return Number(used);
  }
  return 0;
}

async function transcribeAll(backend: WhisperBackend, samples: Float32Array): Promise<number> {
  const started = performance.now();
  for (let at = 0; at < samples.length; at += WINDOW_SAMPLES) {
    await backend.transcribeWindow(
      samples.subarray(at, at + WINDOW_SAMPLES),
      { language: 'en', translate: false, wordTimestamps: false },
      new AbortController().signal,
    );
  }
  return (performance.now() - started) / 1000;
}

async function engineRtfx(modelPath: string, samples: Float32Array, seconds: number): Promise<string> {
  const backend = await loadFugoodWhisper({ modelPath, variant: 'cuda', threads: THREADS });
  try {
    if (backend.device !== 'cuda') {
      throw new Error(`the CUDA build fell back to the CPU (${backend.build}): not a GPU result`);
    }
    await transcribeAll(backend, samples.subarray(0, WINDOW_SAMPLES)); // warm-up
    const gpuMiB = gpuMemoryMiB(process.pid);
    if (gpuMiB === 0) throw new Error('nvidia-smi lists no GPU memory for this process: not a GPU result');
    const wall = await transcribeAll(backend, samples);
    return `engine  ${(seconds / wall).toFixed(1).padStart(7)}x   (${wall.toFixed(2)} s, ${gpuMiB} MiB on the GPU)`;
  } finally {
    await backend.close();
  }
}

async function postAudio(baseUrl: string, file: Buffer): Promise<number> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file)]), 'speech.wav');
  form.append('language', 'en');
  const started = performance.now();
  const response = await request(`${baseUrl}/v1/audio/transcriptions`, { method: 'POST', body: form });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`service answered ${response.statusCode}`);
  return (performance.now() - started) / 1000;
}

async function serviceRtfx(modelPath: string, file: Buffer, seconds: number): Promise<string> {
  const server = await ServiceProcess.start(['serve', 'asr'], {
    ASR_MODEL: modelPath,
    ASR_DEVICE: 'cuda',
    ASR_CPU_THREADS: String(THREADS),
    LOG_LEVEL: 'info',
  });
  try {
    await postAudio(server.url('asr'), file); // warm-up: loads the model
    const health = await detailedHealth(server.url('asr'));
    const device = (health as unknown as { model: { device: string } }).model.device;
    if (device !== 'cuda') throw new Error(`the service runs on '${device}', not the GPU`);
    const gpuMiB = server.child.pid === undefined ? 0 : gpuMemoryMiB(server.child.pid);
    if (gpuMiB === 0) throw new Error('nvidia-smi lists no GPU memory for the service: not a GPU result');
    const wall = await postAudio(server.url('asr'), file);
    return `service ${(seconds / wall).toFixed(1).padStart(7)}x   (${wall.toFixed(2)} s, ${gpuMiB} MiB on the GPU)`;
  } finally {
    await server.stop();
  }
}

const TTS_TEXT =
  'The quick brown fox jumps over the lazy dog. A second sentence follows the first. And a third one ends it.';

async function speechSeconds(baseUrl: string): Promise<number> {
  const started = performance.now();
  const response = await request(`${baseUrl}/v1/audio/speech`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'af_heart', input: TTS_TEXT, response_format: 'wav' }),
  });
  await response.body.arrayBuffer();
  if (response.statusCode !== 200) throw new Error(`TTS service answered ${response.statusCode}`);
  return (performance.now() - started) / 1000;
}

async function ttsOn(device: 'cuda' | 'cpu'): Promise<number> {
  const server = await ServiceProcess.start(['serve', 'tts'], {
    ...(await kokoroTestEnv('bench')),
    TTS_DEVICE: device,
    LOG_LEVEL: 'info',
  });
  try {
    await speechSeconds(server.url('tts')); // warm-up: loads the model
    const health = (await detailedHealth(server.url('tts'))) as unknown as { model: { device: string } };
    if (health.model.device !== device)
      throw new Error(`TTS runs on '${health.model.device}', not ${device}`);
    if (device === 'cuda' && gpuMemoryMiB(server.child.pid ?? -1) === 0) {
      throw new Error('nvidia-smi lists no GPU memory for the TTS service: not a GPU result');
    }
    return await speechSeconds(server.url('tts'));
  } finally {
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      presets: { type: 'string', default: 'base,large-v3-turbo' },
      seconds: { type: 'string', default: '60' },
      tts: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const path = loopedSpeechWav(seconds);
  const file = readFileSync(path);
  const { samples } = await decodeAudio({ path });
  for (const preset of (values.presets ?? '').split(',') as WhisperPreset[]) {
    const modelPath = await modelFor(preset);
    console.log(`\n${preset} dimensions, ${seconds} s of speech, RTFx (higher is faster):`);
    const engine = await engineRtfx(modelPath, samples, seconds);
    console.log(`  ${engine}`);
    console.log(`  ${await serviceRtfx(modelPath, file, seconds)}`);
  }
  if (values.tts) {
    const gpu = await ttsOn('cuda');
    const cpu = await ttsOn('cpu');
    console.log(
      `\nKokoro, three sentences: CUDA ${gpu.toFixed(3)} s, CPU ${cpu.toFixed(3)} s (${(cpu / gpu).toFixed(1)}x)`,
    );
  }
}
