import { access } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import type { PcmAudio } from '../../audio/pcm-audio.js';
import { errorMessage, isVoiceStackError, modelUnavailableError } from '../../core/errors.js';
import type { ModelCache } from '../../core/models/model-cache.js';
import type { EngineDescription } from '../../core/runtime/engine.js';
import type { AsrSettings } from '../../core/settings.js';
import { resolveWhisperModel } from '../model-catalog.js';
import type {
  AsrEngine,
  DetectedLanguage,
  SpeechDetectionOptions,
  SpeechRegion,
  TranscribeOptions,
  Transcript,
} from './asr-engine.js';
import { WhisperCppEngine } from './whisper-cpp.js';

/** 0 = share the cores among the concurrent slots, so parallel requests don't oversubscribe. */
export function threadsPerInference(settings: AsrSettings): number {
  if (settings.cpuThreads > 0) return settings.cpuThreads;
  return Math.max(1, Math.floor(availableParallelism() / settings.maxConcurrentRequests));
}

/**
 * Finds the model file when the model is first loaded: a cached or freshly pulled
 * catalog file, or the path ASR_MODEL names. A missing file or a failed download
 * becomes a 503 naming the model, and the next request tries again.
 */
class ModelFileEngine implements AsrEngine {
  private inner: AsrEngine | undefined;

  constructor(
    private readonly modelName: string,
    private readonly device: string,
    private readonly locate: () => Promise<string>,
    private readonly open: (path: string) => AsrEngine,
  ) {}

  describe(): EngineDescription {
    return (
      this.inner?.describe() ?? { engine: 'whisper-cpp', modelName: this.modelName, device: this.device }
    );
  }

  async load(): Promise<void> {
    let path: string;
    try {
      path = await this.locate();
    } catch (error) {
      if (isVoiceStackError(error)) throw error;
      throw modelUnavailableError(this.modelName, errorMessage(error), error);
    }
    const engine = this.open(path);
    await engine.load();
    this.inner = engine;
  }

  async unload(): Promise<void> {
    const engine = this.inner;
    this.inner = undefined;
    await engine?.unload();
  }

  private loaded(): AsrEngine {
    if (this.inner === undefined) throw modelUnavailableError(this.modelName, 'the model is not loaded');
    return this.inner;
  }

  transcribe(audio: PcmAudio, options: TranscribeOptions, signal: AbortSignal): Promise<Transcript> {
    return this.loaded().transcribe(audio, options, signal);
  }

  detectLanguage(audio: PcmAudio, signal: AbortSignal): Promise<DetectedLanguage> {
    return this.loaded().detectLanguage(audio, signal);
  }

  async detectSpeech(
    audio: PcmAudio,
    signal: AbortSignal,
    options?: SpeechDetectionOptions,
  ): Promise<SpeechRegion[] | undefined> {
    return this.loaded().detectSpeech?.(audio, signal, options);
  }
}

export function createAsrEngine(settings: AsrSettings, cache: ModelCache, logger: Logger): AsrEngine {
  const resolution = resolveWhisperModel(settings.model, settings.computeType);
  const threads = threadsPerInference(settings);
  const open = (modelPath: string, modelName: string) =>
    new WhisperCppEngine({
      modelPath,
      modelName,
      device: settings.device,
      threads,
      vadModelPath: settings.vadModel,
      inferenceNice: settings.inferenceNice,
      build: settings.whisperBuild,
      logger: logger.child({ engine: 'whisper-cpp', model: modelName }),
    });
  if (resolution.kind === 'path') {
    const name = basename(resolution.path);
    logger.info(
      { event: 'model_selected', model: name, path: resolution.path, threads },
      'ASR model file chosen',
    );
    const locate = async () => {
      try {
        await access(resolution.path);
      } catch {
        logger.error({ path: resolution.path }, 'ASR_MODEL file not found');
        throw modelUnavailableError(name, 'the file ASR_MODEL names does not exist or cannot be read');
      }
      return resolution.path;
    };
    return new ModelFileEngine(name, settings.device, locate, (path) => open(path, name));
  }
  const { entry, reason } = resolution;
  logger.info({ event: 'model_selected', model: entry.name, threads }, `ASR model: ${reason}`);
  let loggedTenth = -1;
  const locate = () =>
    cache.ensure(entry, {
      // A line per tenth: progress without flooding the journal.
      onProgress: (progress) => {
        const tenth = Math.floor((progress.receivedBytes / (progress.totalBytes ?? entry.sizeBytes)) * 10);
        if (tenth === loggedTenth) return;
        loggedTenth = tenth;
        logger.info(
          { event: 'model_download', model: entry.name, ...progress },
          `downloading ${tenth * 10}%`,
        );
      },
    });
  return new ModelFileEngine(entry.name, settings.device, locate, (path) => open(path, entry.name));
}
