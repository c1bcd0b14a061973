/**
 * whisper.cpp 1.8.3, prebuilt with runtime CPU dispatch by `@spader/node-whisper-cpp-x64-linux-cpu-gnu`
 * (libwhisper.so, libggml*.so and one libggml-cpu-<microarchitecture>.so per x86-64 level), driven
 * through our own addon, native/whisper-current (built by scripts/build-whisper-current.mjs).
 *
 * The default CPU path (docs/MODELS.md "Which whisper.cpp"): faster than the bundled build for real
 * speech and ~145 MB smaller, with everything the service relies on: the model loads off the event
 * loop, a call takes a long input and stops inside it on abort, language detection with its
 * probability, token ids, probabilities and times, whisper's per-segment no_speech_prob, Silero VAD
 * through whisper_vad_*, and native logs kept off stderr.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientClosedError, engineFailedError, errorMessage } from '../../core/errors.js';
import { NativeCallQueue } from './native-call-queue.js';
import type {
  SpeechRegion,
  VoiceActivityDetector,
  WhisperBackend,
  WindowOptions,
  WindowResult,
  WindowSegment,
} from './whisper-backend.js';

/** The registry package whose bins/ hold the prebuilt libraries. */
export const PREBUILT_WHISPER_PACKAGE = '@spader/node-whisper-cpp-x64-linux-cpu-gnu';

declare const modelBrand: unique symbol;
declare const vadBrand: unique symbol;
type ModelHandle = { readonly [modelBrand]: true };
type VadHandle = { readonly [vadBrand]: true };

interface NativeInfo {
  readonly version: string;
  /** The libggml-cpu-*.so ggml picked for this CPU, e.g. `haswell`, `sapphirerapids`. */
  readonly cpuVariant: string;
  readonly cpuDescription: string;
  /** whisper_print_system_info(): the CPU features the picked backend uses. */
  readonly systemInfo: string;
  /**
   * Whether an abort stops ggml between graph nodes (our hook on the CPU device took), rather than
   * only between whisper.cpp's graph computations (after a whole encoder pass).
   */
  readonly abortInsideGraphs: boolean;
}

interface NativeToken {
  readonly id: number;
  readonly text: string;
  readonly p: number;
  readonly start?: number;
  readonly end?: number;
}

interface NativeSegment {
  /** Seconds. */
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly noSpeechProb: number;
  readonly tokens: readonly NativeToken[];
}

interface NativeResult {
  readonly language?: string;
  readonly languageProbability?: number;
  readonly segments: readonly NativeSegment[];
}

interface NativeCallOptions {
  readonly language: string;
  readonly translate: boolean;
  readonly prompt?: string;
  readonly temperature?: number;
  readonly tokenTimestamps: boolean;
  readonly languageOnly: boolean;
  readonly threads: number;
}

interface CurrentWhisperAddon {
  readonly headerVersion: string;
  init(binsDir: string): NativeInfo;
  loadModel(path: string, flashAttention: boolean): Promise<ModelHandle>;
  freeModel(model: ModelHandle): Promise<void>;
  transcribe(
    model: ModelHandle,
    samples: Float32Array,
    options: NativeCallOptions,
    done: (error: Error | null, result?: NativeResult) => void,
  ): () => void;
  loadVad(path: string, threads: number): Promise<VadHandle>;
  detectSpeech(
    vad: VadHandle,
    samples: Float32Array,
    options: VadOptions,
    done: (error: Error | null, regions?: SpeechRegion[]) => void,
  ): void;
  freeVad(vad: VadHandle): Promise<void>;
}

/**
 * How the detector judges, where the caller sets it: the speech probability over which a window is
 * speech (Silero's default 0.5), and `raw` regions with no padding, merging or minimum length.
 */
export interface VadOptions {
  readonly threshold?: number;
  readonly raw?: boolean;
}

/** The addon with its libraries opened and checked, and how to name the build. */
export interface CurrentWhisperModule {
  readonly addon: CurrentWhisperAddon;
  readonly info: NativeInfo;
  /** For the load log and /health/detailed, e.g. 'whisper.cpp 1.8.3 prebuilt (…), runtime CPU dispatch: haswell'. */
  readonly build: string;
}

const requireNative = createRequire(import.meta.url);
const ADDON_PATH = fileURLToPath(
  new URL('../../../../native/whisper-current/build/Release/whisper_current.node', import.meta.url),
);

/** The package's bins/ folder when it is installed; undefined otherwise. */
export function prebuiltWhisperDir(): string | undefined {
  try {
    // The package exports only its entry point (dist/index.js); bins/ sits beside dist/.
    const dir = join(dirname(requireNative.resolve(PREBUILT_WHISPER_PACKAGE)), '..', 'bins');
    return existsSync(join(dir, 'libwhisper.so')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function packageVersion(binsDir: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(binsDir, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

let loaded: CurrentWhisperModule | undefined;
let loadError: Error | undefined;

/**
 * Opens the prebuilt libraries once per process. Throws, with what is missing, when the package is
 * not installed (it is optional: Linux x64 glibc only), the addon was not built (no compiler at
 * install), or the libraries are not the 1.8.3 the addon was compiled against.
 */
export function loadCurrentWhisperModule(): CurrentWhisperModule {
  if (loaded !== undefined) return loaded;
  if (loadError !== undefined) throw loadError;
  try {
    const binsDir = prebuiltWhisperDir();
    if (binsDir === undefined) throw new Error(`${PREBUILT_WHISPER_PACKAGE} is not installed`);
    if (!existsSync(ADDON_PATH)) {
      throw new Error(
        'native/whisper-current was not built (run `npm install` with g++, make and python3 present)',
      );
    }
    const addon = requireNative(ADDON_PATH) as CurrentWhisperAddon;
    const info = addon.init(binsDir);
    const build = `whisper.cpp ${info.version} prebuilt (${PREBUILT_WHISPER_PACKAGE} ${packageVersion(binsDir)}), runtime CPU dispatch: ${info.cpuVariant}`;
    loaded = { addon, info, build };
    return loaded;
  } catch (error) {
    loadError = error instanceof Error ? error : new Error(errorMessage(error));
    throw loadError;
  }
}

/** The build the service would run, or why it can't: for `voice-stack doctor`. */
export function describeCurrentWhisper(): { build: string } | { problem: string } {
  try {
    return { build: loadCurrentWhisperModule().build };
  } catch (error) {
    return { problem: errorMessage(error) };
  }
}

class CurrentWhisper implements WhisperBackend {
  readonly device = 'cpu';
  /**
   * Ten minutes per call, as for the bundled build: abort stops a call anywhere, and whisper.cpp
   * windows the audio itself (carrying context, seeking on timestamps). Not the whole input: a call
   * holds its samples' mel spectrogram natively, and 10 min of samples (38 MB) stay above glibc's
   * mmap threshold, so those buffers go back to the system when freed.
   */
  readonly maxCallSeconds = 600;
  readonly build: string;
  /** Native calls still running, aborted ones included: the model is freed only after them. */
  private readonly running = new Set<Promise<void>>();
  private model: ModelHandle | undefined;

  constructor(
    private readonly module: CurrentWhisperModule,
    model: ModelHandle,
    private readonly threads: number,
    flashAttention: boolean,
  ) {
    this.model = model;
    this.build = `${module.build}${flashAttention ? ', flash attention' : ''}`;
  }

  transcribeWindow(
    samples: Float32Array,
    options: WindowOptions,
    signal: AbortSignal,
  ): Promise<WindowResult> {
    const model = this.model;
    if (model === undefined)
      return Promise.reject(engineFailedError('whisper-cpp', 'the model is not loaded'));
    if (signal.aborted) return Promise.reject(clientClosedError());
    const native: NativeCallOptions = {
      language: options.language,
      translate: options.translate,
      tokenTimestamps: options.wordTimestamps,
      languageOnly: options.languageOnly === true,
      threads: this.threads,
      ...(options.prompt === undefined || options.prompt === '' ? {} : { prompt: options.prompt }),
      // A number: that temperature and no fallback; unset: whisper's schedule from 0.
      ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    };
    return new Promise<WindowResult>((resolve, reject) => {
      let settle: () => void = () => {};
      const finished = new Promise<void>((done) => {
        settle = done;
      });
      this.running.add(finished);
      const onAbort = () => {
        abort();
        reject(clientClosedError());
      };
      const done = () => {
        this.running.delete(finished);
        settle();
        signal.removeEventListener('abort', onAbort);
      };
      let abort: () => void;
      try {
        abort = this.module.addon.transcribe(model, samples, native, (error, result) => {
          done();
          if (error !== null || result === undefined) {
            reject(engineFailedError('whisper-cpp', error?.message ?? 'no result', error));
            return;
          }
          resolve(toWindowResult(result));
        });
      } catch (error) {
        // Bad arguments or a freed model: nothing started natively.
        done();
        reject(engineFailedError('whisper-cpp', errorMessage(error), error));
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    // Freeing the context under a running call would pull its weights from under it.
    await Promise.all([...this.running]);
    if (model !== undefined) await this.module.addon.freeModel(model);
  }
}

function toWindowResult(result: NativeResult): WindowResult {
  const segments: WindowSegment[] = result.segments.map((s) => ({
    start: s.start,
    end: s.end,
    text: s.text,
    noSpeechProb: s.noSpeechProb,
    tokens: s.tokens,
  }));
  return {
    language: result.language === undefined || result.language === '' ? undefined : result.language,
    segments,
    ...(result.languageProbability === undefined ? {} : { languageProbability: result.languageProbability }),
  };
}

/**
 * Loads a model off the event loop. Flash attention is on: on this project's CPUs it makes the
 * encoder faster and the compute buffers ~95 MB smaller (docs/MODELS.md).
 */
export async function loadCurrentWhisper(
  module: CurrentWhisperModule,
  modelPath: string,
  threads: number,
  flashAttention = true,
): Promise<WhisperBackend> {
  const model = await module.addon.loadModel(modelPath, flashAttention);
  return new CurrentWhisper(module, model, threads, flashAttention);
}

/**
 * Silero VAD through whisper.cpp's whisper_vad_* API. One call at a time per context; a caller
 * that aborts leaves at once (the native pass, short and not interruptible, finishes on its own
 * before the context can be freed or the next call starts).
 */
export class CurrentVad implements VoiceActivityDetector {
  private readonly calls = new NativeCallQueue();

  constructor(
    private readonly module: CurrentWhisperModule,
    private vad: VadHandle | undefined,
  ) {}

  detectSpeech(
    samples: Float32Array,
    signal: AbortSignal,
    options: VadOptions = {},
  ): Promise<SpeechRegion[]> {
    return this.calls.run(signal, () => this.call(samples, signal, options));
  }

  private call(samples: Float32Array, signal: AbortSignal, options: VadOptions): Promise<SpeechRegion[]> {
    const vad = this.vad;
    if (vad === undefined)
      return Promise.reject(engineFailedError('whisper-cpp', 'the VAD model is not loaded'));
    if (signal.aborted) return Promise.reject(clientClosedError());
    return new Promise((resolve, reject) => {
      try {
        const native = {
          ...(options.threshold === undefined ? {} : { threshold: options.threshold }),
          ...(options.raw === true ? { raw: true } : {}),
        };
        this.module.addon.detectSpeech(vad, samples, native, (error, regions) => {
          if (error !== null || regions === undefined) {
            reject(engineFailedError('whisper-cpp', error?.message ?? 'no result', error));
          } else {
            resolve(regions);
          }
        });
      } catch (error) {
        reject(engineFailedError('whisper-cpp', errorMessage(error), error));
      }
    });
  }

  async close(): Promise<void> {
    const vad = this.vad;
    this.vad = undefined;
    if (vad === undefined) return;
    await this.calls.idle();
    await this.module.addon.freeVad(vad);
  }
}

/** Loads a Silero VAD model (ggml form) off the event loop; rejects when whisper.cpp refuses the file. */
export async function loadCurrentVad(
  module: CurrentWhisperModule,
  vadModelPath: string,
  threads: number,
): Promise<CurrentVad> {
  const vad = await module.addon.loadVad(vadModelPath, threads > 0 ? threads : 2);
  return new CurrentVad(module, vad);
}
