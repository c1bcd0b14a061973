/**
 * Piper voices (VITS, one ONNX model per voice) on onnxruntime-node, phonemised by
 * espeak-ng. Loading opens the default voice; other voices open on first use, and
 * the least recently used idle one is closed when more than MAX_OPEN_VOICES are
 * open. Speed is Piper's length_scale: the rate changes, the pitch does not.
 */
import { engineFailure, modelUnavailableError } from '../../core/errors.js';
import type { EngineDescription } from '../../core/runtime/engine.js';
import { isEnglish, normalizeEnglish } from '../english-normalizer.js';
import { phonemize } from '../espeak-phonemizer.js';
import {
  describeLoadFailure,
  executionProviders,
  type OnnxEngineOptions,
  workerSetup,
} from '../onnx/onnx-engine-options.js';
import { float32, int64 } from '../onnx/onnx-protocol.js';
import { OnnxWorkerPool } from '../onnx/onnx-worker-pool.js';
import { PiperVoices } from '../voices/piper-voices.js';
import { type PiperVoiceConfig, phonemesToIds, readPiperConfig } from './piper-voice.js';
import type { SynthesisRequest, SynthesisResult, TtsEngine } from './tts-engine.js';

const MAX_OPEN_VOICES = 2;

interface OpenVoice {
  readonly config: PiperVoiceConfig;
  readonly pool: OnnxWorkerPool;
  inUse: number;
  lastUsed: number;
}

export class PiperEngine implements TtsEngine {
  readonly voices: PiperVoices;
  private readonly open = new Map<string, OpenVoice>();
  private readonly opening = new Map<string, Promise<OpenVoice>>();

  constructor(private readonly options: OnnxEngineOptions) {
    this.voices = new PiperVoices(options);
  }

  describe(): EngineDescription {
    const open = [...this.open.keys()];
    return {
      engine: 'piper',
      modelName: open.length > 0 ? open.join(',') : this.voices.defaultVoice(),
      device: executionProviders(this.options.device)[0] ?? 'cpu',
    };
  }

  async load(): Promise<void> {
    const voice = this.voices.defaultVoice();
    await this.voices.assertReady(voice);
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
    const files = this.voices.files(voice);
    if (!files) throw modelUnavailableError(voice, 'not a Piper voice');
    await this.voices.assertReady(voice);
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
