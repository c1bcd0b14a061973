/**
 * Kokoro-82M v1.0 (StyleTTS2 + iSTFTNet, one ONNX model, a style table per voice)
 * on onnxruntime-node, phonemised by espeak-ng. Speed is the model's own `speed`
 * input within 0.5–2 (the range it was trained for); the rest is a pitch-keeping
 * time stretch at encoding.
 */
import { readFile } from 'node:fs/promises';
import { engineFailedError, engineFailure, modelUnavailableError } from '../../core/errors.js';
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
import { float32, int64, type WireTensor } from '../onnx/onnx-protocol.js';
import { OnnxWorkerPool } from '../onnx/onnx-worker-pool.js';
import { findKokoroVoice, KOKORO_VOICE_BYTES, type KokoroVoiceEntry } from '../voice-catalog.js';
import { KokoroVoices } from '../voices/kokoro-voices.js';
import { KOKORO_MAX_TOKENS, kokoroTokens } from './kokoro-vocab.js';
import type { SynthesisRequest, SynthesisResult, TtsEngine } from './tts-engine.js';

const SAMPLE_RATE = 24_000;
const STYLE_DIM = 256;
const MIN_MODEL_SPEED = 0.5;
const MAX_MODEL_SPEED = 2;
const SPACE_TOKEN = 16;

/** Splits token runs longer than the model takes, preferably at a space. */
export function splitTokens(tokens: readonly number[], max = KOKORO_MAX_TOKENS): number[][] {
  const parts: number[][] = [];
  let rest = [...tokens];
  while (rest.length > max) {
    const space = rest.lastIndexOf(SPACE_TOKEN, max);
    const cut = space > max / 2 ? space + 1 : max;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}

export class KokoroEngine implements TtsEngine {
  readonly voices: KokoroVoices;
  private pool: OnnxWorkerPool | undefined;
  private readonly styles = new Map<string, Float32Array>();

  constructor(private readonly options: OnnxEngineOptions) {
    this.voices = new KokoroVoices(options);
  }

  describe(): EngineDescription {
    return {
      engine: 'kokoro',
      modelName: this.voices.modelEntry?.name ?? this.voices.modelPath,
      device: executionProviders(this.options.device)[0] ?? 'cpu',
    };
  }

  async load(): Promise<void> {
    await this.voices.assertReady(this.voices.defaultVoice());
    try {
      this.pool = await OnnxWorkerPool.open(
        workerSetup(this.voices.modelPath, this.options),
        this.options.workers,
      );
    } catch (error) {
      throw modelUnavailableError(
        this.describe().modelName,
        describeLoadFailure(error, this.options.device),
        error,
      );
    }
  }

  async unload(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.styles.clear();
    await pool?.close();
  }

  private async style(entry: KokoroVoiceEntry): Promise<Float32Array> {
    const cached = this.styles.get(entry.id);
    if (cached) return cached;
    const path = await this.voices.stylePath(entry);
    if (!path) throw voiceNotCachedError(entry.id, [entry.file]);
    const bytes = await readFile(path);
    if (bytes.length !== KOKORO_VOICE_BYTES) {
      throw modelUnavailableError(entry.id, `${path} has ${bytes.length} bytes, not ${KOKORO_VOICE_BYTES}`);
    }
    const table = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    this.styles.set(entry.id, table);
    return table;
  }

  /** The open pool, reopened if one of its workers died since. */
  private async livePool(): Promise<OnnxWorkerPool | undefined> {
    if (this.pool && !this.pool.alive) {
      await this.pool.close();
      this.pool = await OnnxWorkerPool.open(
        workerSetup(this.voices.modelPath, this.options),
        this.options.workers,
      );
    }
    return this.pool;
  }

  async synthesize(request: SynthesisRequest, signal: AbortSignal): Promise<SynthesisResult> {
    const entry = findKokoroVoice(request.voice);
    const pool = await this.livePool();
    if (!entry || !pool)
      throw engineFailedError('kokoro', 'synthesize called before load or with an unknown voice');
    const modelSpeed = Math.min(MAX_MODEL_SPEED, Math.max(MIN_MODEL_SPEED, request.speed));
    try {
      const text = isEnglish(entry.language) ? normalizeEnglish(request.text) : request.text;
      const tokens = kokoroTokens(await phonemize(text, entry.espeakVoice, signal));
      const table = await this.style(entry);
      const parts: Float32Array[] = [];
      for (const part of splitTokens(tokens))
        parts.push(await this.infer(pool, part, table, modelSpeed, signal));
      return {
        audio: { sampleRate: SAMPLE_RATE, samples: concat(parts) },
        residualSpeed: request.speed / modelSpeed,
      };
    } catch (error) {
      throw engineFailure('kokoro', error, signal);
    }
  }

  private async infer(
    pool: OnnxWorkerPool,
    tokens: readonly number[],
    table: Float32Array,
    speed: number,
    signal: AbortSignal,
  ): Promise<Float32Array> {
    const row = Math.min(tokens.length, KOKORO_MAX_TOKENS - 1);
    const style = float32(table.subarray(row * STYLE_DIM, (row + 1) * STYLE_DIM), [1, STYLE_DIM]);
    const ids = [0, ...tokens, 0];
    const idsName = pool.inputNames.includes('input_ids') ? 'input_ids' : 'tokens';
    const feeds: Record<string, WireTensor> = {
      [idsName]: int64(ids, [1, ids.length]),
      style,
      speed: float32([speed], [1]),
    };
    const outputs = await pool.run(feeds, signal);
    const output = Object.values(outputs)[0];
    if (!output) throw new Error('the model returned no audio');
    return output.data;
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
