import type { PcmAudio } from '../../audio/pcm-audio.js';
import { engineFailedError, errorMessage, modelUnavailableError } from '../../core/errors.js';
import type { EngineDescription } from '../../core/runtime/engine.js';
import { lowerWorkerThreadPriority } from '../../core/runtime/thread-priority.js';
import { inspectWhisperModelFile } from '../whisper-model-file.js';
import {
  type AsrEngine,
  carriedPrompt,
  type DetectedLanguage,
  type SpeechDetectionOptions,
  type SpeechRegion,
  type TranscribeOptions,
  type Transcript,
  type TranscriptSegment,
  type TranscriptWord,
} from './asr-engine.js';
import {
  MAX_PIECE_SECONDS,
  mapTime,
  type Piece,
  packSpeech,
  SAMPLE_RATE,
  splitIntoPieces,
} from './audio-windows.js';
import {
  type CurrentWhisperModule,
  loadCurrentVad,
  loadCurrentWhisper,
  loadCurrentWhisperModule,
} from './current-whisper.js';
import { fugoodCudaLoads, loadFugoodVad, loadFugoodWhisper } from './fugood-whisper.js';
import { loadSmartWhisper, loadSmartWhisperModule } from './smart-whisper.js';
import type {
  BackendLogger,
  VoiceActivityDetector,
  WhisperBackend,
  WindowSegment,
  WindowToken,
} from './whisper-backend.js';

export type WhisperCppLogger = BackendLogger;

export interface WhisperCppEngineOptions {
  readonly modelPath: string;
  readonly modelName: string;
  readonly device: 'cpu' | 'cuda' | 'auto';
  /** Threads per inference; 0 lets whisper.cpp choose (min(4, cores)). */
  readonly threads: number;
  /** CPU build: `current` (whisper.cpp 1.8.3 prebuilt, the default) or `bundled` (smart-whisper's). */
  readonly build?: 'current' | 'bundled' | undefined;
  /** A Silero VAD model in ggml form; without it `vad: true` transcribes everything. */
  readonly vadModelPath?: string | undefined;
  /** Nice levels every thread but the event loop's goes below it before native work (0 or unset = leave them). */
  readonly inferenceNice?: number | undefined;
  readonly logger?: WhisperCppLogger | undefined;
  /** Longest one call of the prebuilt binding may take (it never settles when whisper.cpp fails). */
  readonly callTimeoutMs?: number | undefined;
}

/** Whisper's BPE marks a word start with a leading space; tokens without one continue the last word. */
function wordsFromTokens(tokens: readonly WindowToken[], piece: Piece): TranscriptWord[] {
  const words: Array<{ word: string; start: number; end: number; ps: number[] }> = [];
  for (const token of tokens) {
    if (token.start === undefined || token.end === undefined) continue;
    const start = mapTime(piece, token.start);
    const end = Math.max(start, mapTime(piece, token.end));
    const last = words[words.length - 1];
    if (last !== undefined && !token.text.startsWith(' ')) {
      last.word += token.text;
      last.end = Math.max(last.end, end);
      last.ps.push(token.p);
    } else if (token.text.trim() !== '') {
      words.push({ word: token.text, start, end, ps: [token.p] });
    }
  }
  return words.map(({ ps, ...word }) => {
    const known = ps.filter((p) => Number.isFinite(p));
    return known.length === 0
      ? word
      : { ...word, probability: known.reduce((a, b) => a + b, 0) / known.length };
  });
}

/** Mean natural log of the token probabilities, as OpenAI's avg_logprob; 0 when the binding gives none. */
function averageLogprob(tokens: readonly WindowToken[]): number {
  const known = tokens.filter((t) => Number.isFinite(t.p) && t.p > 0);
  if (known.length === 0) return 0;
  return known.reduce((sum, t) => sum + Math.log(t.p), 0) / known.length;
}

function toSegment(
  id: number,
  native: WindowSegment,
  piece: Piece,
  wordTimestamps: boolean,
): TranscriptSegment {
  const tokens = native.tokens ?? [];
  const start = mapTime(piece, native.start);
  const segment: TranscriptSegment = {
    id,
    start,
    end: Math.max(start, mapTime(piece, native.end)),
    text: native.text,
    tokens: tokens.filter((t) => t.id >= 0).map((t) => t.id),
    avgLogprob: averageLogprob(tokens),
    // The 1.8.3 build reports whisper.cpp's own; the older builds have none (0).
    noSpeechProb: native.noSpeechProb ?? 0,
  };
  return wordTimestamps ? { ...segment, words: wordsFromTokens(tokens, piece) } : segment;
}

/** Whisper's last timestamp can run past the end of the audio it was given. */
function clampSegment(segment: TranscriptSegment, duration: number): TranscriptSegment {
  return { ...segment, start: Math.min(segment.start, duration), end: Math.min(segment.end, duration) };
}

/**
 * whisper.cpp behind AsrEngine. Which native build runs the model:
 * - `cuda`/`auto`: @fugood/whisper.node's CUDA build when its libraries load and it finds a GPU;
 * - otherwise whisper.cpp 1.8.3 prebuilt with runtime CPU dispatch (current-whisper.ts), unless
 *   ASR_WHISPER_BUILD=bundled or it can't be used (logged as asr_whisper_current_unavailable);
 * - then the older build compiled on this machine (smart-whisper.ts);
 * - and only when that is missing too, @fugood's prebuilt CPU binary, with a warning that it is slow.
 * Voice activity detection uses the 1.8.3 library's Silero VAD when it loads, else @fugood's.
 */
export class WhisperCppEngine implements AsrEngine {
  private backend: WhisperBackend | undefined;
  private vad: VoiceActivityDetector | undefined;

  constructor(private readonly options: WhisperCppEngineOptions) {}

  describe(): EngineDescription {
    return {
      engine: 'whisper-cpp',
      modelName: this.options.modelName,
      device: this.backend?.device ?? 'cpu',
      ...(this.backend ? { build: this.backend.build } : {}),
    };
  }

  async load(): Promise<void> {
    const { modelPath, modelName, vadModelPath } = this.options;
    // The load is logged once, by the model slot's owner (model_loaded / model_load_failed);
    // the file's path was logged when the model was chosen, and never reaches an error body.
    try {
      const info = await inspectWhisperModelFile(modelPath);
      this.backend = await this.openBackend(info.vocabularySize);
    } catch (error) {
      throw modelUnavailableError(
        modelName,
        `whisper.cpp could not load the model file: ${errorMessage(error)}`,
        error,
      );
    }
    if (vadModelPath !== undefined) this.vad = await this.openVad(vadModelPath);
    this.deprioritize();
  }

  /**
   * Puts the threads native work runs on below the event loop. Before every call, not once: the
   * pool's threads start on first use, and whisper.cpp's threads inherit the value from them.
   */
  private deprioritize(): void {
    lowerWorkerThreadPriority(this.options.inferenceNice ?? 0);
  }

  /** The 1.8.3 prebuilt when it can be used; undefined (and a warning when it was wanted) otherwise. */
  private currentModule(warn: boolean): CurrentWhisperModule | undefined {
    try {
      return loadCurrentWhisperModule();
    } catch (error) {
      if (warn) {
        this.options.logger?.warn(
          { event: 'asr_whisper_current_unavailable', err: errorMessage(error) },
          'whisper.cpp 1.8.3 (prebuilt) cannot be used; running the bundled whisper.cpp build',
        );
      }
      return undefined;
    }
  }

  private async openVad(vadModelPath: string): Promise<VoiceActivityDetector | undefined> {
    const { threads, logger } = this.options;
    const current = this.currentModule(false);
    if (current === undefined) return loadFugoodVad(vadModelPath, threads, logger);
    try {
      return await loadCurrentVad(current, vadModelPath, threads);
    } catch (error) {
      logger?.warn(
        { event: 'asr_vad_unavailable', vadModelPath, err: errorMessage(error) },
        'VAD model could not be loaded; vad requests will transcribe all audio',
      );
      return undefined;
    }
  }

  private async openBackend(vocabularySize: number): Promise<WhisperBackend> {
    const { modelPath, device, threads, logger, callTimeoutMs } = this.options;
    if (device !== 'cpu' && fugoodCudaLoads(logger, device)) {
      const cuda = await loadFugoodWhisper({ modelPath, variant: 'cuda', threads, callTimeoutMs });
      if (cuda.device === 'cuda') return cuda;
      await cuda.close();
      logger?.warn({ event: 'asr_cuda_unavailable', device }, 'no usable GPU found; using the CPU');
    }
    if ((this.options.build ?? 'current') === 'current') {
      const current = this.currentModule(true);
      // A file whisper.cpp refuses is the model's fault, not the build's: that error goes up.
      if (current !== undefined) return loadCurrentWhisper(current, modelPath, threads);
    }
    let module: ReturnType<typeof loadSmartWhisperModule>;
    try {
      module = loadSmartWhisperModule();
    } catch (error) {
      logger?.warn(
        { event: 'asr_native_build_missing', err: errorMessage(error) },
        'whisper.cpp was not built for this CPU (run `npm install` with g++, make and python3 present); ' +
          'using the prebuilt binary, which is many times slower',
      );
      return loadFugoodWhisper({ modelPath, variant: 'cpu', threads, callTimeoutMs });
    }
    return loadSmartWhisper(module, modelPath, threads, vocabularySize);
  }

  async unload(): Promise<void> {
    const { backend, vad } = this;
    this.backend = undefined;
    this.vad = undefined;
    await Promise.all([backend?.close(), vad?.close()]);
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions, signal: AbortSignal): Promise<Transcript> {
    const backend = this.requireBackend();
    const duration = audio.samples.length / audio.sampleRate;
    // Streamed text comes a window at a time: the binding reports only the last of the segments
    // a window decodes, so each window is its own call and its segments are handed on together.
    const maxSeconds =
      options.onSegment === undefined
        ? backend.maxCallSeconds
        : Math.min(MAX_PIECE_SECONDS, backend.maxCallSeconds);
    const pieces = options.speech
      ? packSpeech(audio.samples, options.speech, maxSeconds)
      : options.vad
        ? await this.speechPieces(audio.samples, maxSeconds, signal)
        : splitIntoPieces(audio.samples, maxSeconds);
    let language = options.language;
    let prompt = options.prompt;
    const segments: TranscriptSegment[] = [];
    for (const piece of pieces) {
      this.deprioritize();
      const result = await backend.transcribeWindow(
        piece.samples,
        {
          language: language ?? 'auto',
          translate: options.task === 'translate',
          prompt,
          // OpenAI semantics: 0 (or unset) means start greedy and raise the temperature on failure.
          temperature:
            options.temperature !== undefined && options.temperature > 0 ? options.temperature : undefined,
          wordTimestamps: options.wordTimestamps,
        },
        signal,
      );
      // The first window's language holds for the rest, as whisper does for one long input.
      language ??= result.language;
      for (const native of result.segments) {
        const segment = clampSegment(
          toSegment(segments.length, native, piece, options.wordTimestamps),
          duration,
        );
        segments.push(segment);
        options.onSegment?.(segment);
      }
      prompt = carriedPrompt(segments, prompt);
    }
    return { language: language ?? 'en', duration, text: segments.map((s) => s.text).join(''), segments };
  }

  async detectLanguage(audio: PcmAudio, signal: AbortSignal): Promise<DetectedLanguage> {
    const backend = this.requireBackend();
    const first = audio.samples.subarray(0, MAX_PIECE_SECONDS * SAMPLE_RATE);
    this.deprioritize();
    const result = await backend.transcribeWindow(
      first,
      { language: 'auto', translate: false, wordTimestamps: false, languageOnly: true },
      signal,
    );
    // The prebuilt binding does not return the probability; the one built here does.
    return {
      code: result.language ?? 'en',
      ...(result.languageProbability === undefined ? {} : { probability: result.languageProbability }),
    };
  }

  async detectSpeech(
    audio: PcmAudio,
    signal: AbortSignal,
    options?: SpeechDetectionOptions,
  ): Promise<SpeechRegion[] | undefined> {
    this.deprioritize();
    return this.vad?.detectSpeech(audio.samples, signal, options);
  }

  private requireBackend(): WhisperBackend {
    if (this.backend === undefined) throw engineFailedError('whisper-cpp', 'the model is not loaded');
    return this.backend;
  }

  private async speechPieces(
    samples: Float32Array,
    maxSeconds: number,
    signal: AbortSignal,
  ): Promise<Piece[]> {
    const { vad } = this;
    if (vad === undefined) {
      this.options.logger?.warn({ event: 'asr_vad_skipped' }, 'vad requested but no VAD model is loaded');
      return splitIntoPieces(samples, maxSeconds);
    }
    this.deprioritize();
    return packSpeech(samples, await vad.detectSpeech(samples, signal), maxSeconds);
  }
}
