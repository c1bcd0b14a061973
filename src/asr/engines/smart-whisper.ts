/**
 * whisper.cpp through the smart-whisper binding, compiled on this machine for its CPU by
 * scripts/build-whisper-native.mjs (run by `npm install`), with patches/smart-whisper+*.patch
 * applied: an abort that stops whisper.cpp inside a window, default context parameters, the
 * detected language on every result, native chatter kept off stderr.
 *
 * The CPU path before whisper.cpp 1.8.3 (current-whisper.ts) took over; now ASR_WHISPER_BUILD=bundled
 * and the fallback when the 1.8.3 prebuilt can't be used. The same model and audio run about 17x
 * faster here than on the prebuilt @fugood/whisper.node CPU binary, which has no AVX code. It also
 * returns token ids and probabilities, which fill verbose_json's `tokens` and `avg_logprob`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { clientClosedError, engineFailedError } from '../../core/errors.js';
import type {
  WhisperBackend,
  WindowOptions,
  WindowResult,
  WindowSegment,
  WindowToken,
} from './whisper-backend.js';

interface NativeToken {
  readonly text: string;
  readonly id: number;
  readonly p: number;
  /** Milliseconds, with token_timestamps. */
  readonly from?: number;
  readonly to?: number;
}

interface NativeSegment {
  /** Milliseconds. */
  readonly from: number;
  readonly to: number;
  readonly text: string;
  readonly lang?: string;
  readonly tokens?: readonly NativeToken[];
}

/** The patched build sets `lang` on the array, so a language-only pass still reports it. */
type NativeResults = NativeSegment[] & { lang?: string; lang_p?: number };

interface NativeModel {
  readonly handle: unknown;
  free(): Promise<void>;
}

export interface SmartWhisperModule {
  readonly binding: {
    transcribe(
      handle: unknown,
      pcm: Float32Array,
      params: object,
      finish: (results: NativeResults | Error) => void,
      progress: (segment: NativeSegment) => void,
    ): (() => void) | undefined;
  };
  readonly WhisperModel: { load(file: string, gpu: boolean): Promise<NativeModel> };
}

const requireNative = createRequire(import.meta.url);
const GREEDY = 0;

/** How the binary was built, from the stamp the build script leaves beside it; undefined when it was not built. */
export function describeNativeBuild(): string | undefined {
  try {
    const buildDir = join(dirname(requireNative.resolve('smart-whisper/package.json')), 'build');
    if (!existsSync(join(buildDir, 'Release', 'smart-whisper.node'))) return undefined;
    const stampPath = join(buildDir, 'voice-stack-build.json');
    if (!existsSync(stampPath)) return 'smart-whisper, built with unknown flags';
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { flags?: string };
    return `smart-whisper, built here with ${stamp.flags ?? 'default flags'}`;
  } catch {
    return undefined;
  }
}

/** Loads the binding; throws when it was not built (e.g. no compiler at install time). */
export function loadSmartWhisperModule(): SmartWhisperModule {
  return requireNative('smart-whisper') as SmartWhisperModule;
}

class SmartWhisper implements WhisperBackend {
  readonly device = 'cpu';
  /**
   * Ten minutes per call: abort stops a call anywhere, so calls can be long, and whisper.cpp then
   * windows the audio itself (carrying context, seeking on timestamps). Not the whole input: each
   * call holds two copies of its samples and their mel spectrogram natively (4x a 30-minute file).
   * Not 30 s either: a whisper state per 30 s window left glibc's heap holding freed buffers, and
   * the RSS grew by 5x the decoded size on a 30-minute file. 10 min of samples is 38 MB, above
   * glibc's largest mmap threshold (32 MB), so those buffers go back to the system when freed.
   */
  readonly maxCallSeconds = 600;
  readonly build = describeNativeBuild() ?? 'smart-whisper';
  /** Native calls still running, aborted ones included: the model is freed only after them. */
  private readonly running = new Set<Promise<unknown>>();
  private model: NativeModel | undefined;

  constructor(
    private readonly module: SmartWhisperModule,
    model: NativeModel,
    private readonly threads: number,
    /** Token ids at or above this are special or timestamp tokens. */
    private readonly firstSpecialToken: number,
  ) {
    this.model = model;
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
    const params = {
      strategy: GREEDY,
      best_of: 5,
      language: options.language,
      translate: options.translate,
      format: 'detail',
      // Condition each window on the text before it, as the reference implementation does.
      no_context: false,
      ...(this.threads > 0 ? { n_threads: this.threads } : {}),
      ...(options.prompt === undefined || options.prompt === '' ? {} : { initial_prompt: options.prompt }),
      ...(options.temperature === undefined ? {} : { temperature: options.temperature, temperature_inc: 0 }),
      ...(options.wordTimestamps ? { token_timestamps: true } : {}),
      // The patched binding's language-only pass: one encoder pass, with the probability.
      ...(options.languageOnly === true ? { detect_language: true } : {}),
    };
    return new Promise<WindowResult>((resolve, reject) => {
      let settle: () => void = () => {};
      const native = new Promise<void>((done) => {
        settle = done;
      });
      this.running.add(native);
      const onAbort = () => {
        abort?.();
        reject(clientClosedError());
      };
      const abort = this.module.binding.transcribe(
        model.handle,
        samples,
        params,
        (results) => {
          this.running.delete(native);
          settle();
          signal.removeEventListener('abort', onAbort);
          if (results instanceof Error) {
            reject(engineFailedError('whisper-cpp', results.message, results));
            return;
          }
          resolve(this.toWindowResult(results));
        },
        () => {},
      );
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private toWindowResult(results: NativeResults): WindowResult {
    const language = results.lang ?? results[0]?.lang;
    const segments: WindowSegment[] = results.map((segment) => {
      const tokens: WindowToken[] = (segment.tokens ?? [])
        .filter((t) => t.id < this.firstSpecialToken)
        .map((t) => ({
          id: t.id,
          text: t.text,
          p: t.p,
          ...(t.from === undefined || t.to === undefined ? {} : { start: t.from / 1000, end: t.to / 1000 }),
        }));
      return { start: segment.from / 1000, end: segment.to / 1000, text: segment.text, tokens };
    });
    return {
      language: language === undefined || language === '' ? undefined : language,
      segments,
      ...(results.lang_p === undefined ? {} : { languageProbability: results.lang_p }),
    };
  }

  async close(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    // Freeing the context under a running call would pull its weights from under it.
    await Promise.all([...this.running]);
    await model?.free();
  }
}

/** Loads a model off the event loop; `vocabularySize` comes from the file's header. */
export async function loadSmartWhisper(
  module: SmartWhisperModule,
  modelPath: string,
  threads: number,
  vocabularySize: number,
): Promise<WhisperBackend> {
  const model = await module.WhisperModel.load(modelPath, false);
  // Multilingual vocabularies (51865+) put end-of-text at 50257, English-only ones at 50256.
  return new SmartWhisper(module, model, threads, vocabularySize >= 51865 ? 50257 : 50256);
}
