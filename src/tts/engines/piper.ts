/**
 * Piper voices (VITS, one ONNX model per voice) on onnxruntime-node, phonemised by
 * espeak-ng. Loading opens the default voice; other voices open on first use, and
 * the least recently used idle one is closed when more than MAX_OPEN_VOICES are
 * open. Speed is Piper's length_scale: the rate changes, the pitch does not.
 */
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { engineFailure, modelUnavailableError } from '../../core/errors.js';
import type { CacheableModel } from '../../core/models/model-cache.js';
import type { EngineDescription } from '../../core/runtime/engine.js';
import { isEnglish, normalizeEnglish } from '../english-normalizer.js';
import { phonemize } from '../espeak-phonemizer.js';
import {
  describeLoadFailure,
  executionProviders,
  type OnnxEngineOptions,
  voiceNotCachedError,
  workerSetup,
} from '../onnx/onnx-engine-options.js';
import { float32, int64 } from '../onnx/onnx-protocol.js';
import { OnnxWorkerPool } from '../onnx/onnx-worker-pool.js';
import { DEFAULT_PIPER_VOICE, findPiperVoice, PIPER_VOICES } from '../voice-catalog.js';
import { type PiperVoiceConfig, phonemesToIds, readPiperConfig } from './piper-voice.js';
import type { SynthesisRequest, SynthesisResult, TtsEngine, VoiceInfo } from './tts-engine.js';

const MAX_OPEN_VOICES = 2;

interface VoiceFiles {
  readonly id: string;
  readonly language: string;
  readonly gender?: string;
  readonly modelPath: string;
  /** Catalog entries to pull when the files are missing; none for a local voice. */
  readonly downloads: readonly CacheableModel[];
}

interface OpenVoice {
  readonly config: PiperVoiceConfig;
  readonly pool: OnnxWorkerPool;
  inUse: number;
  lastUsed: number;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export class PiperEngine implements TtsEngine {
  private readonly open = new Map<string, OpenVoice>();
  private readonly opening = new Map<string, Promise<OpenVoice>>();
  private readonly localVoice: VoiceFiles | undefined;

  constructor(private readonly options: OnnxEngineOptions) {
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

  describe(): EngineDescription {
    const open = [...this.open.keys()];
    return {
      engine: 'piper',
      modelName: open.length > 0 ? open.join(',') : this.defaultVoice(),
      device: executionProviders(this.options.device)[0] ?? 'cpu',
    };
  }

  defaultVoice(): string {
    const model = this.options.model;
    const catalogModel = model && findPiperVoice(model) ? model : undefined;
    return this.options.voice ?? this.localVoice?.id ?? catalogModel ?? DEFAULT_PIPER_VOICE;
  }

  private files(voice: string): VoiceFiles | undefined {
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

  async hasVoice(voice: string): Promise<boolean> {
    return this.files(voice) !== undefined;
  }

  private async missingFiles(files: VoiceFiles): Promise<CacheableModel[]> {
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

  async assertVoiceReady(voice: string): Promise<void> {
    const files = this.files(voice);
    if (!files) throw modelUnavailableError(voice, 'not a Piper voice');
    const missing = await this.missingFiles(files);
    if (missing.length > 0) throw voiceNotCachedError(voice, missing);
  }

  async listVoices(): Promise<readonly VoiceInfo[]> {
    const all = [
      ...(this.localVoice ? [this.localVoice] : []),
      // A TTS_MODEL file named like a catalog voice stands for that voice: listed once.
      ...PIPER_VOICES.filter((v) => v.id !== this.localVoice?.id).map((v) => this.files(v.id) as VoiceFiles),
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

  async load(): Promise<void> {
    const voice = this.defaultVoice();
    await this.assertVoiceReady(voice);
    await this.openVoice(voice);
  }

  async unload(): Promise<void> {
    const voices = [...this.open.values()];
    this.open.clear();
    await Promise.all(voices.map((v) => v.pool.close()));
  }

  private async openVoice(voice: string): Promise<OpenVoice> {
    const open = this.open.get(voice);
    if (open?.pool.alive) return open;
    if (open) {
      // A worker died (out of memory, a runtime crash): open the voice afresh.
      this.open.delete(voice);
      await open.pool.close();
    }
    let opening = this.opening.get(voice);
    if (!opening) {
      opening = this.startVoice(voice).finally(() => this.opening.delete(voice));
      this.opening.set(voice, opening);
    }
    return opening;
  }

  private async startVoice(voice: string): Promise<OpenVoice> {
    const files = this.files(voice);
    if (!files) throw modelUnavailableError(voice, 'not a Piper voice');
    await this.assertVoiceReady(voice);
    try {
      const config = await readPiperConfig(`${files.modelPath}.json`);
      const pool = await OnnxWorkerPool.open(
        workerSetup(files.modelPath, this.options),
        this.options.workers,
      );
      const opened: OpenVoice = { config, pool, inUse: 0, lastUsed: Date.now() };
      this.open.set(voice, opened);
      await this.closeLeastRecent();
      return opened;
    } catch (error) {
      throw modelUnavailableError(voice, describeLoadFailure(error, this.options.device), error);
    }
  }

  private async closeLeastRecent(): Promise<void> {
    while (this.open.size > MAX_OPEN_VOICES) {
      const idle = [...this.open.entries()].filter(([, v]) => v.inUse === 0);
      const oldest = idle.sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (!oldest) return;
      this.open.delete(oldest[0]);
      await oldest[1].pool.close();
    }
  }

  async synthesize(request: SynthesisRequest, signal: AbortSignal): Promise<SynthesisResult> {
    const voice = await this.openVoice(request.voice);
    voice.inUse += 1;
    voice.lastUsed = Date.now();
    try {
      const samples = await this.infer(voice, request, signal);
      return { audio: { sampleRate: voice.config.sampleRate, samples }, residualSpeed: 1 };
    } catch (error) {
      throw engineFailure('piper', error, signal);
    } finally {
      voice.inUse -= 1;
    }
  }

  private async infer(
    voice: OpenVoice,
    request: SynthesisRequest,
    signal: AbortSignal,
  ): Promise<Float32Array> {
    const { config } = voice;
    const text = isEnglish(config.espeakVoice) ? normalizeEnglish(request.text) : request.text;
    const ids = phonemesToIds(await phonemize(text, config.espeakVoice, signal), config.phonemeIds);
    const feeds = {
      input: int64(ids, [1, ids.length]),
      input_lengths: int64([ids.length], [1]),
      scales: float32([config.noiseScale, config.lengthScale / request.speed, config.noiseW], [3]),
      ...(config.numSpeakers > 1 ? { sid: int64([0], [1]) } : {}),
    };
    const outputs = await voice.pool.run(feeds, signal);
    const output = outputs.output ?? Object.values(outputs)[0];
    if (!output) throw new Error('the model returned no audio');
    return normalizePeak(output.data);
  }
}

/** Piper scales each utterance to full range (audio_float_to_int16); this keeps a little headroom. */
export function normalizePeak(samples: Float32Array, target = 0.95): Float32Array {
  let peak = 0;
  for (const s of samples) peak = Math.max(peak, Math.abs(s));
  const gain = target / Math.max(0.01, peak);
  for (let i = 0; i < samples.length; i++) samples[i] = (samples[i] as number) * gain;
  return samples;
}
