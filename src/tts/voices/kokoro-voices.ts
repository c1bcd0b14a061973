import { dirname, join } from 'node:path';
import { modelUnavailableError } from '../../core/errors.js';
import type { CacheableModel } from '../../core/models/model-cache.js';
import type { VoiceDirectory, VoiceInfo } from '../engines/tts-engine.js';
import { type OnnxEngineOptions, voiceNotCachedError } from '../onnx/onnx-engine-options.js';
import {
  DEFAULT_KOKORO_MODEL,
  DEFAULT_KOKORO_VOICE,
  findKokoroVoice,
  KOKORO_MODELS,
  KOKORO_VOICES,
  type KokoroVoiceEntry,
} from '../voice-catalog.js';
import { exists } from './piper-voices.js';

/** Kokoro's voices: one model for all, a style file per voice beside it or in the cache. */
export class KokoroVoices implements VoiceDirectory {
  readonly modelPath: string;
  /** The catalogue entry of the model, when TTS_MODEL names one rather than a file. */
  readonly modelEntry: CacheableModel | undefined;

  constructor(private readonly options: Pick<OnnxEngineOptions, 'model' | 'voice' | 'cacheDir'>) {
    const model = options.model ?? DEFAULT_KOKORO_MODEL;
    this.modelEntry = KOKORO_MODELS.find((m) => m.name === model);
    this.modelPath = this.modelEntry ? join(options.cacheDir, 'kokoro', this.modelEntry.fileName) : model;
  }

  defaultVoice(): string {
    return this.options.voice ?? DEFAULT_KOKORO_VOICE;
  }

  async has(voice: string): Promise<boolean> {
    return findKokoroVoice(voice) !== undefined;
  }

  async assertReady(voice: string): Promise<void> {
    const entry = findKokoroVoice(voice);
    if (!entry) throw modelUnavailableError(voice, 'not a Kokoro voice');
    const missing = await this.missing(entry);
    if (missing.length > 0) throw voiceNotCachedError(voice, missing);
  }

  async list(): Promise<readonly VoiceInfo[]> {
    return Promise.all(
      KOKORO_VOICES.map(async (entry) => ({
        id: entry.id,
        name: entry.name,
        language: entry.language,
        gender: entry.gender,
        cached: (await this.missing(entry).catch(() => [undefined])).length === 0,
      })),
    );
  }

  /** The voice's style file beside the model (a local TTS_MODEL) or in the cache. */
  async stylePath(entry: KokoroVoiceEntry): Promise<string | undefined> {
    const candidates = [
      join(dirname(this.modelPath), entry.file.fileName),
      join(this.options.cacheDir, 'kokoro', entry.file.fileName),
    ];
    for (const path of candidates) if (await exists(path)) return path;
    return undefined;
  }

  private async missing(entry: KokoroVoiceEntry): Promise<CacheableModel[]> {
    const missing: CacheableModel[] = [];
    if (!(await exists(this.modelPath))) {
      if (!this.modelEntry) throw modelUnavailableError(this.modelPath, 'TTS_MODEL names no file');
      missing.push(this.modelEntry);
    }
    if (!(await this.stylePath(entry))) missing.push(entry.file);
    return missing;
  }
}
