import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { modelUnavailableError } from '../../core/errors.js';
import type { CacheableModel } from '../../core/models/model-cache.js';
import type { VoiceDirectory, VoiceInfo } from '../engines/tts-engine.js';
import { type OnnxEngineOptions, voiceNotCachedError } from '../onnx/onnx-engine-options.js';
import { DEFAULT_PIPER_VOICE, findPiperVoice, PIPER_VOICES } from '../voice-catalog.js';

/** Where a Piper voice's model lives, and what to pull when it is not there. */
export interface PiperVoiceFiles {
  readonly id: string;
  readonly language: string;
  readonly gender?: string;
  readonly modelPath: string;
  /** Catalog entries to pull when the files are missing; none for a local voice. */
  readonly downloads: readonly CacheableModel[];
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The catalogue's Piper voices in the cache, and a local TTS_MODEL file as one more voice. */
export class PiperVoices implements VoiceDirectory {
  private readonly localVoice: PiperVoiceFiles | undefined;

  constructor(private readonly options: Pick<OnnxEngineOptions, 'model' | 'voice' | 'cacheDir'>) {
    const model = options.model;
    if (model?.endsWith('.onnx')) {
      const id = basename(model, '.onnx');
      this.localVoice = {
        id,
        language: id.split('-')[0]?.toLowerCase().replace('_', '-') ?? 'und',
        modelPath: model,
        downloads: [],
      };
    }
  }

  defaultVoice(): string {
    const model = this.options.model;
    const catalogModel = model && findPiperVoice(model) ? model : undefined;
    return this.options.voice ?? this.localVoice?.id ?? catalogModel ?? DEFAULT_PIPER_VOICE;
  }

  files(voice: string): PiperVoiceFiles | undefined {
    if (voice === this.localVoice?.id) return this.localVoice;
    const entry = findPiperVoice(voice);
    if (!entry) return undefined;
    const dir = join(this.options.cacheDir, 'piper');
    return {
      id: entry.id,
      language: entry.language,
      ...(entry.gender ? { gender: entry.gender } : {}),
      modelPath: join(dir, entry.model.fileName),
      downloads: [entry.model, entry.config],
    };
  }

  async has(voice: string): Promise<boolean> {
    return this.files(voice) !== undefined;
  }

  async assertReady(voice: string): Promise<void> {
    const files = this.files(voice);
    if (!files) throw modelUnavailableError(voice, 'not a Piper voice');
    const missing = await this.missingFiles(files);
    if (missing.length > 0) throw voiceNotCachedError(voice, missing);
  }

  async list(): Promise<readonly VoiceInfo[]> {
    const all = [
      ...(this.localVoice ? [this.localVoice] : []),
      // A TTS_MODEL file named like a catalog voice stands for that voice: listed once.
      ...PIPER_VOICES.filter((v) => v.id !== this.localVoice?.id).map(
        (v) => this.files(v.id) as PiperVoiceFiles,
      ),
    ];
    return Promise.all(
      all.map(async (files) => ({
        id: files.id,
        name: files.id,
        language: files.language,
        ...(files.gender ? { gender: files.gender } : {}),
        cached: (await this.missingFiles(files).catch(() => [undefined])).length === 0,
      })),
    );
  }

  private async missingFiles(files: PiperVoiceFiles): Promise<CacheableModel[]> {
    if (files.downloads.length === 0) {
      const present = (await exists(files.modelPath)) && (await exists(`${files.modelPath}.json`));
      if (!present)
        throw modelUnavailableError(files.id, `TTS_MODEL ${files.modelPath} or its .onnx.json is missing`);
      return [];
    }
    const paths = [files.modelPath, `${files.modelPath}.json`];
    const present = await Promise.all(paths.map(exists));
    return files.downloads.filter((_entry, i) => !present[i]);
  }
}
