import type { PcmAudio } from '../../audio/pcm-audio.js';
import type { LoadableEngine } from '../../core/runtime/engine.js';

export interface VoiceInfo {
  /** The id a client sends as `voice`. */
  readonly id: string;
  readonly name: string;
  /** BCP-47-ish language tag, e.g. `en-us`. */
  readonly language: string;
  readonly gender?: string;
  /** False when the voice's model files still have to be pulled. */
  readonly cached: boolean;
}

export interface SynthesisRequest {
  readonly text: string;
  /** A voice id from the engine's voice directory, already validated. */
  readonly voice: string;
  /** Speaking rate factor, 1 = normal, within [0.25, 4]. */
  readonly speed: number;
}

export interface SynthesisResult {
  readonly audio: PcmAudio;
  /**
   * The part of the requested speed the engine could not apply itself; the caller
   * applies it with a pitch-preserving time stretch when encoding.
   */
  readonly residualSpeed: number;
}

/**
 * The voices an engine can speak with, apart from the engine that loads a model:
 * listing, checking and defaulting never load one.
 */
export interface VoiceDirectory {
  /** Every voice, with whether its files are here. */
  list(): Promise<readonly VoiceInfo[]>;
  /** The voice used when a client names none or an OpenAI voice (`alloy`, …). */
  defaultVoice(): string;
  /** Whether `voice` (an id, or an id with an engine-specific variant) can be used. */
  has(voice: string): Promise<boolean>;
  /**
   * Resolves when `voice` (already known to `has`) can be used now; rejects with a
   * 503 naming the files to pull when it still has to be downloaded. Cheap: it looks
   * at files, it loads nothing.
   */
  assertReady(voice: string): Promise<void>;
}

export interface TtsEngine extends LoadableEngine {
  readonly voices: VoiceDirectory;
  /**
   * Synthesises one chunk of text (a sentence or less; the routes split longer
   * input). Runs off the event loop; stops early and rejects when `signal` aborts.
   */
  synthesize(request: SynthesisRequest, signal: AbortSignal): Promise<SynthesisResult>;
  /**
   * Optional, for an engine that is faster given a whole text than sentence by sentence
   * (espeak-ng: one process instead of one per sentence). Gets the whole input and
   * yields its audio in order, in pieces as soon as they are made, every piece at the
   * same rate and residual speed. Where present the routes use it instead of
   * `synthesize` per chunk; stopping the iteration early or aborting `signal` stops
   * the synthesis. Engines without it (Piper, Kokoro) are driven chunk by chunk.
   */
  synthesizeText?(request: SynthesisRequest, signal: AbortSignal): AsyncIterable<SynthesisResult>;
}
