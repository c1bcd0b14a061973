/**
 * @fugood/whisper.node: prebuilt whisper.cpp for CPU and CUDA, plus Silero VAD. Used for CUDA, for
 * VAD when the 1.8.3 library (current-whisper.ts) can't be loaded, and on the CPU only when neither
 * that nor the bundled build (smart-whisper.ts) is there: its CPU binary has no AVX/FMA/F16C code
 * and runs `base` about 17x slower.
 */
import { createRequire } from 'node:module';
import type {
  TranscribeOptions as NativeOptions,
  TranscribeResult,
  WhisperContext,
} from '@fugood/whisper.node';
import { floatToS16le } from '../../audio/wav.js';
import { clientClosedError, engineFailedError, errorMessage } from '../../core/errors.js';
import { NativeCallQueue } from './native-call-queue.js';
import type {
  BackendLogger,
  SpeechDetectionOptions,
  SpeechRegion,
  VoiceActivityDetector,
  WhisperBackend,
  WindowOptions,
  WindowResult,
  WindowSegment,
  WindowToken,
} from './whisper-backend.js';

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

export type FugoodVariant = 'cpu' | 'cuda';
type NativeLogListener = (level: string, text: string) => void;

const requireNative = createRequire(import.meta.url);
const loadedModules = new Map<FugoodVariant, NativeModule>();
const nativeLogListeners = new Set<NativeLogListener>();

/**
 * Loads the native build directly rather than through the package's `initWhisper`, which caches the
 * first variant for the whole process and falls back from CUDA to CPU without saying so.
 */
function loadNativeModule(variant: FugoodVariant): NativeModule {
  const cached = loadedModules.get(variant);
  if (cached !== undefined) return cached;
  const suffix = variant === 'cuda' ? '-cuda' : '';
  const module = requireNative(
    `@fugood/node-whisper-${process.platform}-${process.arch}${suffix}`,
  ) as NativeModule;
  loadedModules.set(variant, module);
  return module;
}

/** Contexts alive; native logs are routed while any exists or loads. */
let liveContexts = 0;

/**
 * Routes native logs to JS while a model is loading or loaded: that keeps whisper.cpp's
 * chatter off stderr and lets the load read which backend it picked (the binding reports
 * that only through its log). Routing is switched off once no model is left, because
 * the binding's thread-safe log callback keeps the process alive while it is on.
 */
function routeNativeLogs(module: NativeModule, on: boolean): void {
  if (on) {
    module.WhisperContext.toggleNativeLog(true, (level, text) => {
      for (const listener of nativeLogListeners) listener(level, text);
    });
  } else if (nativeLogListeners.size === 0 && liveContexts === 0) {
    module.WhisperContext.toggleNativeLog(false);
  }
}

/** The binding takes 16-bit PCM as an ArrayBuffer; floatToS16le's Buffer owns its whole ArrayBuffer. */
function toInt16(samples: Float32Array): ArrayBuffer {
  const pcm = floatToS16le(samples);
  const buffer = pcm.buffer as ArrayBuffer; // Buffer.alloc never hands out shared memory
  const whole = pcm.byteOffset === 0 && pcm.byteLength === buffer.byteLength;
  return whole ? buffer : buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength);
}

/**
 * One native call at a time per context (the binding would park a libuv thread on its mutex
 * otherwise), with an abort that leaves at once and a timeout: the binding never settles its
 * promise when whisper.cpp fails inside a call, or after stop().
 */
class SerialCalls {
  private readonly calls = new NativeCallQueue();

  constructor(private readonly timeoutMs: number) {}

  run<T>(
    signal: AbortSignal,
    start: () => Promise<T> | { promise: Promise<T>; stop: () => Promise<void> },
  ): Promise<T> {
    return this.calls.run(signal, () => this.call(signal, start));
  }

  /** Resolves once no call is running or queued. */
  idle(): Promise<void> {
    return this.calls.idle();
  }

  private call<T>(
    signal: AbortSignal,
    start: () => Promise<T> | { promise: Promise<T>; stop: () => Promise<void> },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) {
        reject(clientClosedError());
        return;
      }
      const started = start();
      const { promise, stop } = started instanceof Promise ? { promise: started, stop: undefined } : started;
      // The turn ends on abort; the native side finishes its window under its own lock before the
      // next call can start.
      const onAbort = () => {
        void stop?.();
        finish();
        reject(clientClosedError());
      };
      const timer = setTimeout(() => {
        void stop?.();
        finish();
        reject(engineFailedError('whisper-cpp', `no result after ${this.timeoutMs / 1000}s`));
      }, this.timeoutMs);
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
          reject(engineFailedError('whisper-cpp', errorMessage(error), error));
        },
      );
    });
  }
}

export interface FugoodLoadOptions {
  readonly modelPath: string;
  readonly variant: FugoodVariant;
  /** Threads per call; 0 lets whisper.cpp choose. */
  readonly threads: number;
  readonly callTimeoutMs?: number | undefined;
}

class FugoodWhisper implements WhisperBackend {
  /** Its stop() does not interrupt a call, so calls are kept to one whisper window. */
  readonly maxCallSeconds = 30;
  private readonly calls: SerialCalls;

  constructor(
    private readonly module: NativeModule,
    private context: NativeWhisperContext | undefined,
    readonly device: 'cpu' | 'cuda',
    readonly build: string,
    private readonly threads: number,
    timeoutMs: number,
  ) {
    this.calls = new SerialCalls(timeoutMs);
  }

  transcribeWindow(
    samples: Float32Array,
    options: WindowOptions,
    signal: AbortSignal,
  ): Promise<WindowResult> {
    const context = this.context;
    if (context === undefined) throw engineFailedError('whisper-cpp', 'the model is not loaded');
    const native: NativeOptions = {
      language: options.language,
      translate: options.translate,
      ...(this.threads > 0 ? { maxThreads: this.threads } : {}),
      ...(options.prompt === undefined || options.prompt === '' ? {} : { prompt: options.prompt }),
      ...(options.temperature === undefined ? {} : { temperature: options.temperature, temperatureInc: 0 }),
      // One token per native segment is this binding's only route to per-word times.
      ...(options.wordTimestamps ? { tokenTimestamps: true, maxLen: 1 } : {}),
      // whisper.cpp detects the language before it checks the length to decode: 1 ms stops it there.
      ...(options.languageOnly === true ? { duration: 1 } : {}),
    };
    return this.calls
      .run(signal, () => context.transcribeData(toInt16(samples), native))
      .then((result) => toWindowResult(result, options.wordTimestamps));
  }

  async close(): Promise<void> {
    const context = this.context;
    if (context === undefined) return;
    this.context = undefined;
    liveContexts -= 1;
    routeNativeLogs(this.module, false);
    // Release cancels queued work; a running call keeps the model alive natively until it returns.
    await context.release();
  }
}

/**
 * With word timestamps each native segment is one token (see maxLen above); they are grouped back
 * into sentence-sized segments. The binding gives no token ids or probabilities.
 */
function toWindowResult(result: TranscribeResult, wordTimestamps: boolean): WindowResult {
  const language = result.language === undefined || result.language === '' ? undefined : result.language;
  if (!wordTimestamps) {
    return {
      language,
      segments: result.segments.map((s) => ({ start: s.t0 / 1000, end: s.t1 / 1000, text: s.text })),
    };
  }
  const segments: WindowSegment[] = [];
  let tokens: WindowToken[] = [];
  const close = () => {
    const first = tokens[0];
    const last = tokens[tokens.length - 1];
    if (first?.start === undefined || last?.end === undefined) return;
    segments.push({ start: first.start, end: last.end, text: tokens.map((t) => t.text).join(''), tokens });
    tokens = [];
  };
  for (const s of result.segments) {
    tokens.push({ id: -1, p: Number.NaN, text: s.text, start: s.t0 / 1000, end: s.t1 / 1000 });
    if (/[.?!]\s*$/.test(s.text)) close();
  }
  close();
  return { language, segments };
}

/** Loads a model; rejects with the native error text when whisper.cpp refuses the file. */
export async function loadFugoodWhisper(options: FugoodLoadOptions): Promise<WhisperBackend> {
  const module = loadNativeModule(options.variant);
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
  routeNativeLogs(module, true);
  try {
    let context: NativeWhisperContext;
    try {
      // The constructor loads synchronously on this thread (the binding has no async load).
      context = new module.WhisperContext({
        filePath: options.modelPath,
        useGpu: options.variant === 'cuda',
      });
    } catch (error) {
      throw new Error(nativeError ?? errorMessage(error));
    }
    // Native log lines arrive through a thread-safe function, after the constructor has returned.
    await Promise.race([logged, new Promise((resolve) => setTimeout(resolve, 2000))]);
    if (empty) {
      await context.release();
      throw new Error('the file holds no weights (truncated download?)');
    }
    liveContexts += 1;
    const device = backend === undefined ? 'cpu' : 'cuda';
    const build =
      backend === undefined
        ? '@fugood/whisper.node prebuilt (no AVX)'
        : `@fugood/whisper.node, ${backend} backend`;
    return new FugoodWhisper(
      module,
      context,
      device,
      build,
      options.threads,
      options.callTimeoutMs ?? 10 * 60_000,
    );
  } finally {
    nativeLogListeners.delete(listener);
    routeNativeLogs(module, false);
  }
}

/** True when the CUDA build of the binding loads (its CUDA libraries are present). */
export function fugoodCudaLoads(logger: BackendLogger | undefined, device: string): boolean {
  try {
    loadNativeModule('cuda');
    return true;
  } catch (error) {
    logger?.warn(
      { event: 'asr_cuda_unavailable', device, err: errorMessage(error) },
      'CUDA build of whisper.cpp could not be loaded; using the CPU',
    );
    return false;
  }
}

class FugoodVad implements VoiceActivityDetector {
  private readonly calls = new SerialCalls(10 * 60_000);

  constructor(
    private readonly module: NativeModule,
    private context: NativeVadContext | undefined,
  ) {}

  async detectSpeech(
    samples: Float32Array,
    signal: AbortSignal,
    options?: SpeechDetectionOptions,
  ): Promise<SpeechRegion[]> {
    const context = this.context;
    if (context === undefined) throw engineFailedError('whisper-cpp', 'the VAD model is not loaded');
    const vadOptions = {
      ...(options?.threshold === undefined ? {} : { threshold: options.threshold }),
      // whisper.cpp's defaults pad each region by 30 ms and drop speech under 250 ms and gaps
      // under 100 ms; a caller that smooths on its own (Realtime's turn tracker) wants none of it.
      ...(options?.raw === true ? { minSpeechDurationMs: 0, minSilenceDurationMs: 0, speechPadMs: 0 } : {}),
    };
    const regions = await this.calls.run(signal, () =>
      context.detectSpeechData(toInt16(samples), vadOptions),
    );
    // VAD times are in centiseconds.
    return regions.map((r) => ({ start: r.t0 / 100, end: r.t1 / 100 }));
  }

  async close(): Promise<void> {
    const context = this.context;
    this.context = undefined;
    if (context === undefined) return;
    await this.calls.idle();
    await context.release();
    liveContexts -= 1;
    routeNativeLogs(this.module, false);
  }
}

/** Silero VAD through whisper.cpp; undefined (and a warning) when the file can't be loaded. */
export function loadFugoodVad(
  vadModelPath: string,
  threads: number,
  logger: BackendLogger | undefined,
): VoiceActivityDetector | undefined {
  try {
    // whisper.cpp runs Silero VAD on the CPU whatever is asked; it is small enough not to matter.
    const module = loadNativeModule('cpu');
    // Its per-call log lines go to the (empty) listeners rather than to stderr.
    routeNativeLogs(module, true);
    let context: NativeVadContext;
    try {
      context = new module.WhisperVadContext({
        filePath: vadModelPath,
        useGpu: false,
        nThreads: threads > 0 ? threads : 2,
      });
    } catch (error) {
      routeNativeLogs(module, false);
      throw error;
    }
    liveContexts += 1;
    return new FugoodVad(module, context);
  } catch (error) {
    logger?.warn(
      {
        event: 'asr_vad_unavailable',
        vadModelPath,
        err: errorMessage(error),
      },
      'VAD model could not be loaded; vad requests will transcribe all audio',
    );
    return undefined;
  }
}
