import type { SpeechDetectionOptions, SpeechRegion } from './asr-engine.js';
/**
 * What the whisper.cpp engine needs from a native binding: one call per window of at most 30 s.
 * Three bindings implement it (see whisper-cpp.ts for which is used when):
 * - current-whisper.ts: whisper.cpp 1.8.3 prebuilt with runtime CPU dispatch, through our own
 *   addon: token ids and probabilities, no_speech_prob, an abort that stops inside a call, Silero VAD;
 * - smart-whisper.ts: the older whisper.cpp smart-whisper bundles, compiled on this machine for its
 *   CPU (ASR_WHISPER_BUILD=bundled, and the fallback): token ids and probabilities, abort;
 * - fugood-whisper.ts: @fugood/whisper.node's prebuilt CPU and CUDA builds and Silero VAD.
 */

export interface WindowOptions {
  /** ISO 639-1 code or 'auto'. */
  readonly language: string;
  readonly translate: boolean;
  readonly prompt?: string | undefined;
  /** undefined = whisper's fallback schedule from 0; a number = that temperature, no fallback. */
  readonly temperature?: number | undefined;
  readonly wordTimestamps: boolean;
  /** Stop right after language detection: one encoder pass, no decoding. */
  readonly languageOnly?: boolean;
}

export interface WindowToken {
  readonly id: number;
  readonly text: string;
  /** Probability the decoder gave the token. */
  readonly p: number;
  /** Seconds from the window start, when word timestamps were asked for. */
  readonly start?: number;
  readonly end?: number;
}

export interface WindowSegment {
  /** Seconds from the window start. */
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** Text tokens (special and timestamp tokens left out); absent when the binding gives none. */
  readonly tokens?: readonly WindowToken[];
  /** whisper.cpp's probability that the window held no speech, 0–1; absent when the binding gives none. */
  readonly noSpeechProb?: number;
}

export interface WindowResult {
  readonly language: string | undefined;
  /** How sure the detector was, 0–1, when the binding reports it (language-only passes). */
  readonly languageProbability?: number;
  readonly segments: readonly WindowSegment[];
}

export type { SpeechDetectionOptions, SpeechRegion };

export interface WhisperBackend {
  readonly device: 'cpu' | 'cuda';
  /** Which build runs it, for the load log, e.g. 'whisper.cpp built here, -march=native'. */
  readonly build: string;
  /**
   * Longest audio to hand over in one call. A binding that can stop inside a call takes the whole
   * input (whisper.cpp then windows it itself, carrying context and seeking on timestamps); one
   * that can't gets 30 s windows, so a cancelled request waits for one window at most.
   */
  readonly maxCallSeconds: number;
  /** Runs off the event loop. On abort it rejects with client-closed at once. */
  transcribeWindow(samples: Float32Array, options: WindowOptions, signal: AbortSignal): Promise<WindowResult>;
  /** Waits for native work still running (an aborted window), then frees the model; safe to call twice. */
  close(): Promise<void>;
}

export interface VoiceActivityDetector {
  detectSpeech(
    samples: Float32Array,
    signal: AbortSignal,
    options?: SpeechDetectionOptions,
  ): Promise<SpeechRegion[]>;
  /** Frees the VAD model once its calls are done; safe to call twice. */
  close(): Promise<void>;
}

export interface BackendLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}
