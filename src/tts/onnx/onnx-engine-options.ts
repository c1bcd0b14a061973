/**
 * What the ONNX engines share: where models live, how many inference workers to
 * run, on which device, and how to say that a voice still has to be downloaded.
 */
import { availableParallelism } from 'node:os';
import { errorMessage, modelUnavailableError, type VoiceStackError } from '../../core/errors.js';
import type { CacheableModel } from '../../core/models/model-cache.js';
import type { Device, TtsSettings } from '../../core/settings.js';
import type { WorkerSetup } from './onnx-protocol.js';

export interface OnnxEngineOptions {
  readonly cacheDir: string;
  /** TTS_MODEL: a catalog name or a path to a model file. */
  readonly model: string | undefined;
  /** TTS_VOICE: the voice used for OpenAI voice names and requests naming none. */
  readonly voice: string | undefined;
  readonly device: Device;
  /** Inference workers per loaded model: requests that can synthesise at once. */
  readonly workers: number;
}

/** More workers than this add memory (a session each) without adding speed on most hosts. */
const MAX_WORKERS = 4;

export function onnxEngineOptions(settings: TtsSettings, cacheDir: string): OnnxEngineOptions {
  return {
    cacheDir,
    model: settings.model,
    voice: settings.voice,
    device: settings.device,
    workers: Math.min(MAX_WORKERS, Math.max(1, settings.maxConcurrentRequests)),
  };
}

/**
 * `auto` means the CPU: onnxruntime-node's CUDA provider is an optional download
 * (ONNXRUNTIME_NODE_INSTALL=cuda12) that most installs skip. `cuda` asks for it and
 * fails to load, with the runtime's reason, where it is missing.
 */
export function executionProviders(device: Device): string[] {
  return device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
}

export function workerSetup(modelPath: string, options: OnnxEngineOptions): WorkerSetup {
  return {
    modelPath,
    executionProviders: executionProviders(options.device),
    intraOpNumThreads: Math.max(1, Math.floor(availableParallelism() / options.workers)),
  };
}

/** 503 naming the voice and the `models pull` commands that fetch what is missing. */
export function voiceNotCachedError(voice: string, missing: readonly CacheableModel[]): VoiceStackError {
  const commands = missing.map((entry) => `'voice-stack models pull ${entry.name}'`).join(' and ');
  return modelUnavailableError(
    voice,
    `voice '${voice}' is not downloaded to MODEL_CACHE_DIR; run ${commands} (or set TTS_VOICE to a downloaded voice)`,
  );
}

/** The runtime's reason a model did not load, with what to do when it is the missing CUDA provider. */
export function describeLoadFailure(error: unknown, device: Device): string {
  const message = errorMessage(error);
  if (device !== 'cuda' || !/cuda/i.test(message)) return message;
  return `${message} (TTS_DEVICE=cuda needs onnxruntime-node's CUDA provider: reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12 on a host with CUDA 12, or set TTS_DEVICE=cpu)`;
}
