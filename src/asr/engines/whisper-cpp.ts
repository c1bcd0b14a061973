import { createRequire } from 'node:module';
import type {
  TranscribeOptions as NativeOptions,
  TranscribeResult,
  WhisperContext,
} from '@fugood/whisper.node';
import type { PcmAudio } from '../../audio/pcm-audio.js';
import type { EngineDescription } from '../../core/engine.js';
import { clientClosedError, engineFailedError, modelUnavailableError } from '../../core/errors.js';
import type {
  AsrEngine,
  DetectedLanguage,
  TranscribeOptions,
  Transcript,
  TranscriptSegment,
  TranscriptWord,
} from './asr-engine.js';

export interface WhisperCppLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface WhisperCppEngineOptions {
  readonly modelPath: string;
  readonly modelName: string;
  readonly device: 'cpu' | 'cuda' | 'auto';
  /** Threads per inference; 0 lets whisper.cpp choose (min(8, cores)). */
  readonly threads: number;
  /** A Silero VAD model in ggml form; without it `vad: true` transcribes everything. */
  readonly vadModelPath?: string | undefined;
  readonly logger?: WhisperCppLogger | undefined;
  /**
   * Longest one native call (at most 30 s of audio) may take. The binding never settles its promise
   * when whisper.cpp fails inside a call, so without this a failure would hold a slot forever.
   */
  readonly callTimeoutMs?: number | undefined;
}

interface NativeWhisperContext {
  transcribeData: WhisperContext['transcribeData'];
  release(): Promise<void>;
}

interface NativeVadContext {
  detectSpeechData(audio: ArrayBuffer, options?: object): Promise<Array<{ t0: number; t1: number }>>;
  release(): Promise<void>;
}

interface NativeModule {
  WhisperContext: (new (options: {
    filePath: string;
    useGpu?: boolean;
  }) => NativeWhisperContext) & {
    toggleNativeLog(enable: boolean, callback?: (level: string, text: string) => void): void;
  };
  WhisperVadContext: new (options: {
    filePath: string;
    useGpu?: boolean;
    nThreads?: number;
  }) => NativeVadContext;
}

type Variant = 'cpu' | 'cuda';
type NativeLogListener = (level: string, text: string) => void;

const SAMPLE_RATE = 16000;
/** whisper.cpp decodes 30 s windows; one native call per window bounds how long a stop takes. */
const MAX_PIECE_SECONDS = 30;
/** A cut is placed at the quietest 20 ms frame within this many seconds before a piece's end. */
const CUT_SEARCH_SECONDS = 5;
const PROMPT_CARRY_WORDS = 48;

const requireNative = createRequire(import.meta.url);
const loadedModules = new Map<Variant, NativeModule>();
const nativeLogListeners = new Set<NativeLogListener>();

/**
 * Loads the native build directly rather than through the package's `initWhisper`, which caches the
 * first variant for the whole process and falls back from CUDA to CPU without saying so.
 */
function loadNativeModule(variant: Variant): NativeModule {
  const cached = loadedModules.get(variant);
  if (cached !== undefined) return cached;
  const suffix = variant === 'cuda' ? '-cuda' : '';
  const module = requireNative(
    `@fugood/node-whisper-${process.platform}-${process.arch}${suffix}`,
  ) as NativeModule;
  loadedModules.set(variant, module);
  return module;
}

/** Engines holding a loaded model; native logs are routed while any exists or loads. */
let loadedEngines = 0;

/**
 * Routes native logs to JS while a model is loading or loaded: that keeps whisper.cpp's
 * chatter off stderr and lets load() read which backend it picked (the binding reports
 * that only through its log). Routing is switched off once no model is left, because
 * the binding's thread-safe log callback keeps the process alive while it is on.
 */
function routeNativeLogs(module: NativeModule, on: boolean): void {
  if (on) {
    module.WhisperContext.toggleNativeLog(true, (level, text) => {
      for (const listener of nativeLogListeners) listener(level, text);
    });
  } else if (nativeLogListeners.size === 0 && loadedEngines === 0) {
    module.WhisperContext.toggleNativeLog(false);
  }
}

function loadPreferredModule(
  device: WhisperCppEngineOptions['device'],
  logger: WhisperCppLogger | undefined,
) {
  if (device !== 'cpu') {
    try {
      return { module: loadNativeModule('cuda'), variant: 'cuda' as Variant };
    } catch (error) {
      logger?.warn(
        {
          event: 'asr_cuda_unavailable',
          device,
          err: error instanceof Error ? error.message : String(error),
        },
        'CUDA build of whisper.cpp could not be loaded; using the CPU build',
      );
    }
  }
  return { module: loadNativeModule('cpu'), variant: 'cpu' as Variant };
}

function toInt16(samples: Float32Array): ArrayBuffer {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i] ?? 0));
    pcm[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return pcm.buffer;
}

/** A stretch of audio sent in one native call, and where its times sit in the original audio. */
interface Piece {
  readonly samples: Float32Array;
  /** Sorted by `at`: a span of the piece starting at `at` s maps to `to` s of the input. */
  readonly spans: ReadonlyArray<{ readonly at: number; readonly to: number; readonly length: number }>;
}

function mapTime(piece: Piece, t: number): number {
  let span = piece.spans[0];
  for (const candidate of piece.spans) if (candidate.at <= t) span = candidate;
  if (span === undefined) return t;
  return span.to + Math.min(Math.max(t - span.at, 0), span.length);
}

/** Where to end a piece: the quietest 20 ms frame near the limit, so words are rarely cut in two. */
function quietCut(samples: Float32Array, start: number, limit: number): number {
  const frame = SAMPLE_RATE / 50;
  let best = limit;
  let bestEnergy = Number.POSITIVE_INFINITY;
  for (
    let f = limit - frame;
    f >= Math.max(start + frame, limit - CUT_SEARCH_SECONDS * SAMPLE_RATE);
    f -= frame
  ) {
    let energy = 0;
    for (let i = f; i < f + frame; i++) energy += (samples[i] ?? 0) ** 2;
    if (energy < bestEnergy) {
      bestEnergy = energy;
      best = f + frame / 2;
    }
  }
  return best;
}

function splitIntoPieces(samples: Float32Array, from = 0, to = samples.length, offsetSeconds = 0): Piece[] {
  const pieces: Piece[] = [];
  const max = MAX_PIECE_SECONDS * SAMPLE_RATE;
  let start = from;
  while (start < to) {
    const end = to - start <= max ? to : quietCut(samples, start, start + max);
    const length = (end - start) / SAMPLE_RATE;
    pieces.push({
      samples: samples.subarray(start, end),
      spans: [{ at: 0, to: offsetSeconds + (start - from) / SAMPLE_RATE, length }],
    });
    start = end;
  }
  return pieces;
}

/**
 * Packs speech regions into pieces of at most 30 s, each region kept whole (or split when longer),
 * so a file with many short utterances costs few encoder passes instead of one per utterance.
 */
function packSpeech(samples: Float32Array, regions: ReadonlyArray<{ start: number; end: number }>): Piece[] {
  const pieces: Piece[] = [];
  const max = MAX_PIECE_SECONDS * SAMPLE_RATE;
  let parts: Float32Array[] = [];
  let spans: Array<{ at: number; to: number; length: number }> = [];
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    const joined = new Float32Array(used);
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    pieces.push({ samples: joined, spans });
    parts = [];
    spans = [];
    used = 0;
  };
  for (const region of regions) {
    const start = Math.max(0, Math.floor(region.start * SAMPLE_RATE));
    const end = Math.min(samples.length, Math.ceil(region.end * SAMPLE_RATE));
    if (end <= start) continue;
    if (end - start > max) {
      flush();
      pieces.push(...splitIntoPieces(samples, start, end, start / SAMPLE_RATE));
      continue;
    }
    if (used + (end - start) > max) flush();
    spans.push({ at: used / SAMPLE_RATE, to: start / SAMPLE_RATE, length: (end - start) / SAMPLE_RATE });
    parts.push(samples.subarray(start, end));
    used += end - start;
  }
  flush();
  return pieces;
}

/** Whisper's BPE marks a word start with a leading space; tokens without one continue the last word. */
function wordsFromTokens(segments: TranscribeResult['segments'], piece: Piece): TranscriptWord[] {
  const words: Array<{ word: string; start: number; end: number }> = [];
  for (const token of segments) {
    const start = mapTime(piece, token.t0 / 1000);
    const end = mapTime(piece, token.t1 / 1000);
    const last = words[words.length - 1];
    if (last !== undefined && !token.text.startsWith(' ')) {
      last.word += token.text;
      last.end = Math.max(last.end, end);
    } else if (token.text.trim() !== '') {
      words.push({ word: token.text, start, end: Math.max(start, end) });
    }
  }
  return words;
}

/** Rebuilds sentence-sized segments from per-word results (the binding splits per token for word times). */
function segmentsFromWords(words: readonly TranscriptWord[], firstId: number): TranscriptSegment[] {
  const segments: TranscriptSegment[] = [];
  let current: TranscriptWord[] = [];
  const close = () => {
    const first = current[0];
    const last = current[current.length - 1];
    if (first === undefined || last === undefined) return;
    segments.push(
      segment(firstId + segments.length, first.start, last.end, current.map((w) => w.word).join(''), current),
    );
    current = [];
  };
  for (const word of words) {
    current.push(word);
    if (/[.?!]$/.test(word.word)) close();
  }
  close();
  return segments;
}

/**
 * The binding exposes text and times only: token ids, average log-probability and no-speech
 * probability are not returned, so they are reported as [] and 0 (0 passes every client-side
 * hallucination filter rather than silently dropping text).
 */
function segment(
  id: number,
  start: number,
  end: number,
  text: string,
  words?: TranscriptWord[],
): TranscriptSegment {
  const base = { id, start, end: Math.max(start, end), text, tokens: [], avgLogprob: 0, noSpeechProb: 0 };
  return words === undefined ? base : { ...base, words };
}

export class WhisperCppEngine implements AsrEngine {
  private context: NativeWhisperContext | undefined;
  private vad: NativeVadContext | undefined;
  private nativeModule: NativeModule | undefined;
  private device = 'cpu';
  /** One native call at a time per context: the binding would park a libuv thread on its mutex otherwise. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: WhisperCppEngineOptions) {}

  describe(): EngineDescription {
    return { engine: 'whisper-cpp', modelName: this.options.modelName, device: this.device };
  }

  async load(): Promise<void> {
    const { modelPath, modelName, device, logger } = this.options;
    const started = performance.now();
    let backend: string | undefined;
    let nativeError: string | undefined;
    let empty = false;
    let loadLogged: () => void = () => {};
    const logged = new Promise<void>((resolve) => {
      loadLogged = resolve;
    });
    const listener: NativeLogListener = (level, text) => {
      const used = /whisper_backend_init_gpu: using (\S+) backend/.exec(text);
      if (used?.[1] !== undefined) backend = used[1];
      if (level === 'error') nativeError = text.trim();
      // whisper.cpp accepts a file that ends before its tensors as an "empty model for testing".
      if (/no tensors loaded/.test(text)) empty = true;
      if (/compute buffer \(decode\)/.test(text)) loadLogged();
    };
    nativeLogListeners.add(listener);
    let native: NativeModule | undefined;
    try {
      const { module, variant } = loadPreferredModule(device, logger);
      native = module;
      routeNativeLogs(module, true);
      // The constructor loads synchronously on this thread (the binding has no async load).
      this.context = new module.WhisperContext({ filePath: modelPath, useGpu: variant === 'cuda' });
      // Native log lines arrive through a thread-safe function, after the constructor has returned.
      await Promise.race([logged, new Promise((resolve) => setTimeout(resolve, 2000))]);
      if (empty) {
        await this.context.release();
        this.context = undefined;
        throw new Error('the file holds no weights (truncated download?)');
      }
      this.device = backend === undefined ? 'cpu' : `cuda (${backend})`;
      this.vad = this.loadVad(module);
      loadedEngines += 1;
      this.nativeModule = module;
    } catch (error) {
      const cause = nativeError ?? (error instanceof Error ? error.message : String(error));
      logger?.warn(
        { event: 'asr_model_load_failed', model: modelName, modelPath, cause },
        'model load failed',
      );
      // The path stays in the log: error bodies name the model, never a file path.
      throw modelUnavailableError(modelName, `whisper.cpp could not load the model file: ${cause}`, error);
    } finally {
      nativeLogListeners.delete(listener);
      if (native) routeNativeLogs(native, false);
    }
    const loadMs = Math.round(performance.now() - started);
    logger?.info(
      { event: 'asr_model_loaded', model: modelName, device: this.device, loadMs },
      'whisper.cpp model loaded',
    );
  }

  private loadVad(module: NativeModule): NativeVadContext | undefined {
    const { vadModelPath, logger, threads } = this.options;
    if (vadModelPath === undefined) return undefined;
    try {
      // whisper.cpp runs Silero VAD on the CPU whatever is asked.
      return new module.WhisperVadContext({
        filePath: vadModelPath,
        useGpu: false,
        nThreads: threads > 0 ? threads : 2,
      });
    } catch (error) {
      logger?.warn(
        {
          event: 'asr_vad_unavailable',
          vadModelPath,
          err: error instanceof Error ? error.message : String(error),
        },
        'VAD model could not be loaded; vad requests will transcribe all audio',
      );
      return undefined;
    }
  }

  async unload(): Promise<void> {
    const { context, vad, nativeModule } = this;
    this.context = undefined;
    if (nativeModule) {
      this.nativeModule = undefined;
      loadedEngines -= 1;
      routeNativeLogs(nativeModule, false);
    }
    this.vad = undefined;
    // Release cancels queued work; a running call keeps the model alive natively until it returns.
    await Promise.all([context?.release(), vad?.release()]);
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions, signal: AbortSignal): Promise<Transcript> {
    const context = this.requireContext();
    const duration = audio.samples.length / audio.sampleRate;
    const pieces = options.vad
      ? await this.speechPieces(audio.samples, signal)
      : splitIntoPieces(audio.samples);
    let language = options.language;
    let prompt = options.prompt;
    const segments: TranscriptSegment[] = [];
    for (const piece of pieces) {
      const native: NativeOptions = {
        language: language ?? 'auto',
        translate: options.task === 'translate',
        ...(this.options.threads > 0 ? { maxThreads: this.options.threads } : {}),
        ...(prompt === undefined || prompt === '' ? {} : { prompt }),
        // OpenAI semantics: 0 (or unset) means start greedy and raise the temperature on failure.
        ...(options.temperature !== undefined && options.temperature > 0
          ? { temperature: options.temperature, temperatureInc: 0 }
          : {}),
        // One token per native segment is the binding's only route to per-word times.
        ...(options.wordTimestamps ? { tokenTimestamps: true, maxLen: 1 } : {}),
      };
      const result = await this.run(context, piece.samples, native, signal);
      language ??= result.language;
      const produced = options.wordTimestamps
        ? segmentsFromWords(wordsFromTokens(result.segments, piece), segments.length)
        : result.segments.map((s, i) =>
            segment(segments.length + i, mapTime(piece, s.t0 / 1000), mapTime(piece, s.t1 / 1000), s.text),
          );
      segments.push(...produced);
      // Carry the tail of the text forward, as whisper does between its own windows.
      const carried = segments
        .flatMap((s) => s.text.trim().split(/\s+/))
        .slice(-PROMPT_CARRY_WORDS)
        .join(' ');
      prompt = carried === '' ? prompt : carried;
    }
    return {
      language: language ?? 'en',
      duration,
      text: segments.map((s) => s.text).join(''),
      segments: segments.map((s) => ({
        ...s,
        start: Math.min(s.start, duration),
        end: Math.min(s.end, duration),
      })),
    };
  }

  async detectLanguage(audio: PcmAudio, signal: AbortSignal): Promise<DetectedLanguage> {
    const context = this.requireContext();
    const first = audio.samples.subarray(0, MAX_PIECE_SECONDS * SAMPLE_RATE);
    // whisper.cpp detects the language before it checks the length to decode; a 1 ms duration makes
    // it stop right there, so this costs one encoder pass and one decoder step.
    const native: NativeOptions = {
      language: 'auto',
      duration: 1,
      ...(this.options.threads > 0 ? { maxThreads: this.options.threads } : {}),
    };
    const result = await this.run(context, first, native, signal);
    // The probability is computed natively but not returned by the binding.
    return { code: result.language ?? 'en' };
  }

  private requireContext(): NativeWhisperContext {
    if (this.context === undefined) {
      throw engineFailedError('whisper-cpp', 'the model is not loaded');
    }
    return this.context;
  }

  private async speechPieces(samples: Float32Array, signal: AbortSignal): Promise<Piece[]> {
    const { vad } = this;
    if (vad === undefined) {
      this.options.logger?.warn({ event: 'asr_vad_skipped' }, 'vad requested but no VAD model is loaded');
      return splitIntoPieces(samples);
    }
    const regions = await this.serialised(signal, () => vad.detectSpeechData(toInt16(samples)));
    // VAD times are in centiseconds.
    return packSpeech(
      samples,
      regions.map((r) => ({ start: r.t0 / 100, end: r.t1 / 100 })),
    );
  }

  /** Runs one native call when the context is free; an abort stops the call and rejects at once. */
  private run(
    context: NativeWhisperContext,
    samples: Float32Array,
    options: NativeOptions,
    signal: AbortSignal,
  ): Promise<TranscribeResult> {
    return this.serialised(signal, () => {
      const { stop, promise } = context.transcribeData(toInt16(samples), options);
      return { promise, stop };
    });
  }

  private serialised<T>(
    signal: AbortSignal,
    start: () => Promise<T> | { promise: Promise<T>; stop: () => Promise<void> },
  ): Promise<T> {
    const timeoutMs = this.options.callTimeoutMs ?? 10 * 60_000;
    const turn = this.queue.then(
      () =>
        new Promise<T>((resolve, reject) => {
          if (signal.aborted) {
            reject(clientClosedError());
            return;
          }
          const call = start();
          const { promise, stop } = call instanceof Promise ? { promise: call, stop: undefined } : call;
          // A stopped call's promise never settles in this binding (its error path drops the
          // callback arguments), so the turn ends on abort; the native side finishes the current
          // window under its own lock before the next call can start.
          const onAbort = () => {
            void stop?.();
            finish();
            reject(clientClosedError());
          };
          const timer = setTimeout(() => {
            void stop?.();
            finish();
            reject(engineFailedError('whisper-cpp', `no result after ${timeoutMs / 1000}s`));
          }, timeoutMs);
          const finish = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
          };
          signal.addEventListener('abort', onAbort, { once: true });
          promise.then(
            (value) => {
              finish();
              resolve(value);
            },
            (error: unknown) => {
              finish();
              reject(
                engineFailedError(
                  'whisper-cpp',
                  error instanceof Error ? error.message : String(error),
                  error,
                ),
              );
            },
          );
        }),
    );
    this.queue = turn.catch(() => undefined);
    // A caller still waiting for its turn leaves at once on abort; its native call never starts.
    return new Promise<T>((resolve, reject) => {
      const leave = () => reject(clientClosedError());
      signal.addEventListener('abort', leave, { once: true });
      turn.then(
        (value) => {
          signal.removeEventListener('abort', leave);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(error);
        },
      );
    });
  }
}
