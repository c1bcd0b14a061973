/**
 * Server VAD on the Silero model (ASR_VAD_MODEL), for Realtime sessions.
 *
 * whisper.cpp's Silero context judges a whole buffer per call, starting its recurrent state
 * afresh, so the stream is judged in blocks: every HOP of new audio, the block (with half a
 * second of the audio before it, so the model has warmed up by the block's first frame) is
 * resampled to 16 kHz and handed to the model, which returns its speech regions at the
 * session's `threshold` (Silero's own probability threshold: OpenAI's 0–1 means the same).
 * Each 20 ms frame of the block is speech when its middle falls in a region, and the frames
 * go through the same TurnTracker as the energy detector, so `silence_duration_ms`,
 * `prefix_padding_ms` and positions behave alike; turns are reported a block behind the
 * audio (HOP plus the model's time, a few milliseconds).
 *
 * When the model cannot judge a block (the call failed, or no VAD model is loaded), that
 * block is judged by level like the energy detector, so a session never goes deaf.
 */
import { resample } from '../../audio/resample.js';
import type { SpeechRegion } from '../engines/asr-engine.js';
import { SAMPLE_RATE } from '../engines/audio-windows.js';
import type { ServerVad } from './protocol.js';
import {
  energyThreshold,
  frameLength,
  isLoud,
  type TurnDetector,
  type TurnListener,
  TurnTracker,
} from './turn-detector.js';

/** New audio judged per call: 200 ms (ten frames). */
const HOP_FRAMES = 10;
/** Most frames judged in one call, when the model falls behind: 2 s. */
const MAX_BLOCK_FRAMES = 100;
/** Audio before a block that the model hears first. */
const LOOK_BACK_SECONDS = 0.5;

/** Speech regions (seconds from the start of `samples`, 16 kHz) at a probability threshold. */
export type SpeechRegionFinder = (
  samples: Float32Array,
  threshold: number,
  signal: AbortSignal,
) => Promise<readonly SpeechRegion[] | undefined>;

export interface SileroTurnDetectorOptions {
  readonly config: ServerVad;
  readonly sampleRate: number;
  readonly onTurn: TurnListener;
  /** A copy of the session's audio from `from` to `to`, clamped to what it still holds. */
  readonly read: (from: number, to: number) => Int16Array;
  readonly findSpeech: SpeechRegionFinder;
  /** A block was judged by level instead (`error` when the model call failed). */
  readonly onFallback?: (error: unknown) => void;
}

export class SileroTurnDetector implements TurnDetector {
  readonly #frame: number;
  readonly #tracker: TurnTracker;
  readonly #thresholdPower: number;
  readonly #abort = new AbortController();
  /** Bumped by reset(): results of calls started before it are dropped. */
  #generation = 0;
  #decided = 0;
  #end = 0;
  #running = false;

  constructor(private readonly options: SileroTurnDetectorOptions) {
    this.#frame = frameLength(options.sampleRate);
    this.#tracker = new TurnTracker(options.config, options.sampleRate);
    this.#thresholdPower = energyThreshold(options.config);
  }

  get decidedTo(): number {
    return this.#decided;
  }

  get lookBack(): number {
    return Math.round(LOOK_BACK_SECONDS * this.options.sampleRate);
  }

  push(samples: Int16Array): void {
    this.#end += samples.length;
    this.#next();
  }

  reset(position: number): void {
    this.#generation += 1;
    this.#running = false;
    this.#decided = position;
    this.#end = position;
    this.#tracker.reset();
  }

  close(): void {
    this.#generation += 1;
    this.#abort.abort();
  }

  /** Starts judging the next block when enough audio waits and no call is running. */
  #next(): void {
    if (this.#running || this.#abort.signal.aborted) return;
    const frames = Math.min(MAX_BLOCK_FRAMES, Math.floor((this.#end - this.#decided) / this.#frame));
    if (frames < HOP_FRAMES) return;
    this.#running = true;
    const generation = this.#generation;
    const blockStart = this.#decided;
    const blockEnd = blockStart + frames * this.#frame;
    const audio = this.options.read(blockStart - this.lookBack, blockEnd);
    const audioStart = blockEnd - audio.length;
    void this.#regions(audio)
      .then((regions) => {
        if (generation !== this.#generation) return;
        this.#judge(audio, audioStart, blockStart, blockEnd, regions);
        this.#running = false;
        this.#next();
      })
      // An abort lands here when the session ends (#regions turns model failures into undefined);
      // anything else is reported, and the next push starts over.
      .catch((error: unknown) => {
        if (this.#abort.signal.aborted || generation !== this.#generation) return;
        this.#running = false;
        this.options.onFallback?.(error);
      });
  }

  /** The model's regions in session positions relative to the audio; undefined = judge by level. */
  async #regions(audio: Int16Array): Promise<readonly SpeechRegion[] | undefined> {
    const floats = new Float32Array(audio.length);
    for (let i = 0; i < audio.length; i++) floats[i] = (audio[i] as number) / 32768;
    const rate = this.options.sampleRate;
    const samples = rate === SAMPLE_RATE ? floats : resample(floats, rate, SAMPLE_RATE);
    try {
      const regions = await this.options.findSpeech(
        samples,
        this.options.config.threshold,
        this.#abort.signal,
      );
      if (regions === undefined) this.options.onFallback?.(undefined);
      return regions;
    } catch (error) {
      if (this.#abort.signal.aborted) throw error;
      this.options.onFallback?.(error);
      return undefined;
    }
  }

  #judge(
    audio: Int16Array,
    audioStart: number,
    blockStart: number,
    blockEnd: number,
    regions: readonly SpeechRegion[] | undefined,
  ): void {
    const rate = this.options.sampleRate;
    for (let frameStart = blockStart; frameStart < blockEnd; frameStart += this.#frame) {
      const offset = frameStart - audioStart;
      const middle = (offset + this.#frame / 2) / rate;
      const speech =
        regions === undefined
          ? isLoud(audio.subarray(offset, offset + this.#frame), this.#thresholdPower)
          : regions.some((r) => r.start <= middle && middle < r.end);
      const event = this.#tracker.frame(speech, frameStart);
      if (event !== undefined) this.options.onTurn(event);
    }
    this.#decided = blockEnd;
  }
}
