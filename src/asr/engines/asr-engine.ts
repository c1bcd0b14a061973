import type { PcmAudio } from '../../audio/pcm-audio.js';
import type { LoadableEngine } from '../../core/runtime/engine.js';

export type AsrTask = 'transcribe' | 'translate';

export interface TranscribeOptions {
  readonly task: AsrTask;
  /** ISO 639-1 code; undefined = detect. */
  readonly language?: string | undefined;
  readonly prompt?: string | undefined;
  readonly temperature?: number | undefined;
  readonly wordTimestamps: boolean;
  /** Skip silence with a voice activity detector before decoding. */
  readonly vad: boolean;
  /**
   * Where the speech is (seconds into `audio`): only these stretches are decoded,
   * packed into the engine's windows, so silence between them is never heard.
   */
  readonly speech?: readonly SpeechRegion[] | undefined;
  /**
   * Called with each segment as soon as it is decoded (the same segment, times and text the
   * transcript will hold). An engine that can stop inside a long call decodes in whisper's
   * 30 s windows when this is set, so the text arrives window by window.
   */
  readonly onSegment?: ((segment: TranscriptSegment) => void) | undefined;
}

/** How the voice activity detector judges, where the caller sets it (Realtime's server VAD). */
export interface SpeechDetectionOptions {
  /** Speech probability over which a window is speech (Silero's default 0.5). */
  readonly threshold?: number;
  /** Regions as the model sees them, with no padding, merging or minimum length. */
  readonly raw?: boolean;
}

export interface SpeechRegion {
  /** Seconds from the start of the audio. */
  readonly start: number;
  readonly end: number;
}

export interface TranscriptWord {
  readonly word: string;
  readonly start: number;
  readonly end: number;
  readonly probability?: number;
}

export interface TranscriptSegment {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly tokens: readonly number[];
  readonly avgLogprob: number;
  readonly noSpeechProb: number;
  readonly words?: readonly TranscriptWord[];
}

export interface Transcript {
  /** ISO 639-1 code of the spoken (detected or given) language. */
  readonly language: string;
  /** Seconds of input audio. */
  readonly duration: number;
  readonly text: string;
  readonly segments: readonly TranscriptSegment[];
}

export interface DetectedLanguage {
  readonly code: string;
  readonly probability?: number;
}

export interface AsrEngine extends LoadableEngine {
  /** `audio` is 16 kHz mono. Runs off the event loop; stops the engine when `signal` aborts. */
  transcribe(audio: PcmAudio, options: TranscribeOptions, signal: AbortSignal): Promise<Transcript>;
  detectLanguage(audio: PcmAudio, signal: AbortSignal): Promise<DetectedLanguage>;
  /** Speech regions from the engine's voice activity detector; undefined when it has none loaded. */
  detectSpeech?(
    audio: PcmAudio,
    signal: AbortSignal,
    options?: SpeechDetectionOptions,
  ): Promise<SpeechRegion[] | undefined>;
}

/** How much earlier text is carried into the next window's prompt, as whisper does between its own windows. */
const PROMPT_CARRY_WORDS = 48;

/** The prompt for the next window: the last words said so far, or `previous` when nothing was said. */
export function carriedPrompt(
  segments: readonly TranscriptSegment[],
  previous: string | undefined,
): string | undefined {
  const carried = segments
    .slice(-PROMPT_CARRY_WORDS)
    .flatMap((s) => s.text.trim().split(/\s+/))
    .filter((word) => word !== '')
    .slice(-PROMPT_CARRY_WORDS)
    .join(' ');
  return carried === '' ? previous : carried;
}
