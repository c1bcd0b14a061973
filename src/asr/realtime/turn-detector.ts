/**
 * Server VAD for Realtime sessions: where an utterance starts and where it ends, decided
 * as audio arrives, on 20 ms frames of the session's own samples. Positions are sample
 * counts of the session's timeline, so no clock is needed.
 *
 * Two detectors share one turn tracker (speech starts after a few speech frames in a row,
 * since a click is one; it stops after `silence_duration_ms` without one) and differ in
 * how a frame is judged:
 * - EnergyTurnDetector (this file): a frame is speech when its level is over `threshold`,
 *   mapped from OpenAI's 0–1 onto -70…-10 dBFS (the default 0.5 is -40 dBFS: a voice near a
 *   microphone is -30…-15, room noise well under -50). It decides as each frame arrives.
 * - SileroTurnDetector (silero-turn-detector.ts): the Silero VAD model, when ASR_VAD_MODEL
 *   is set; it decides a block of frames at a time, a little behind the audio.
 */
import type { ServerVad } from './protocol.js';

export const FRAME_SECONDS = 0.02;
/** Speech frames in a row before speech counts as started: 60 ms, shorter than any syllable. */
export const START_FRAMES = 3;
const FLOOR_DB = -70;
const RANGE_DB = 60;
const FULL_SCALE = 32768;

export type TurnEvent =
  | { readonly kind: 'speech_started'; readonly at: number }
  | { readonly kind: 'speech_stopped'; readonly at: number };

export type TurnListener = (event: TurnEvent) => void;

/** What a session needs of its server VAD. */
export interface TurnDetector {
  /** Feeds the next samples of the session; turns are reported to the listener, now or later. */
  push(samples: Int16Array): void;
  /** Session position up to which frames have been judged. */
  readonly decidedTo: number;
  /** Samples before `decidedTo` the detector may still read (its look-back). */
  readonly lookBack: number;
  /** Starts over at `position` (after a commit or a clear), not speaking; late results are dropped. */
  reset(position: number): void;
  /** Stops for good: work in progress is abandoned. */
  close(): void;
}

export function frameLength(sampleRate: number): number {
  return Math.max(1, Math.round(sampleRate * FRAME_SECONDS));
}

/** Mean power (in squared 16-bit units) over which a frame is speech for the energy detector. */
export function energyThreshold(config: ServerVad): number {
  const thresholdDb = FLOOR_DB + RANGE_DB * config.threshold;
  return 10 ** (thresholdDb / 10) * FULL_SCALE * FULL_SCALE;
}

export function isLoud(frame: Int16Array, thresholdPower: number): boolean {
  let power = 0;
  for (let i = 0; i < frame.length; i++) power += (frame[i] as number) ** 2;
  return power / Math.max(1, frame.length) > thresholdPower;
}

/** The state machine over judged frames, whichever detector judges them. */
export class TurnTracker {
  readonly #frame: number;
  readonly #stopFrames: number;
  #speaking = false;
  #activeRun = 0;
  #runStart = 0;
  #silentRun = 0;

  constructor(config: ServerVad, sampleRate: number) {
    this.#frame = frameLength(sampleRate);
    this.#stopFrames = Math.max(1, Math.round(config.silence_duration_ms / 1000 / FRAME_SECONDS));
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  reset(): void {
    this.#speaking = false;
    this.#activeRun = 0;
    this.#silentRun = 0;
  }

  /** The judgement of the frame starting at `frameStart`; returns the turn it completes, if any. */
  frame(speech: boolean, frameStart: number): TurnEvent | undefined {
    if (!this.#speaking) {
      if (!speech) {
        this.#activeRun = 0;
        return undefined;
      }
      if (this.#activeRun === 0) this.#runStart = frameStart;
      this.#activeRun += 1;
      if (this.#activeRun < START_FRAMES) return undefined;
      this.#speaking = true;
      this.#silentRun = 0;
      return { kind: 'speech_started', at: this.#runStart };
    }
    if (speech) {
      this.#silentRun = 0;
      return undefined;
    }
    this.#silentRun += 1;
    if (this.#silentRun < this.#stopFrames) return undefined;
    this.#speaking = false;
    this.#activeRun = 0;
    return { kind: 'speech_stopped', at: frameStart + this.#frame };
  }
}

/** Judges each frame by its level as it arrives; turns are reported during push(). */
export class EnergyTurnDetector implements TurnDetector {
  readonly #frame: number;
  readonly #thresholdPower: number;
  readonly #tracker: TurnTracker;
  /** Samples of an incomplete frame, carried to the next push. */
  readonly #partial: Int16Array;
  #partialLength = 0;
  /** Session position of the first sample of the frame being filled. */
  #position = 0;

  constructor(
    config: ServerVad,
    sampleRate: number,
    private readonly onTurn: TurnListener,
  ) {
    this.#frame = frameLength(sampleRate);
    this.#thresholdPower = energyThreshold(config);
    this.#tracker = new TurnTracker(config, sampleRate);
    this.#partial = new Int16Array(this.#frame);
  }

  get decidedTo(): number {
    return this.#position;
  }

  get lookBack(): number {
    return 0;
  }

  reset(position: number): void {
    this.#position = position;
    this.#partialLength = 0;
    this.#tracker.reset();
  }

  close(): void {}

  push(samples: Int16Array): void {
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(this.#frame - this.#partialLength, samples.length - offset);
      this.#partial.set(samples.subarray(offset, offset + take), this.#partialLength);
      this.#partialLength += take;
      offset += take;
      if (this.#partialLength < this.#frame) break;
      const frameStart = this.#position;
      this.#partialLength = 0;
      this.#position += this.#frame;
      const event = this.#tracker.frame(isLoud(this.#partial, this.#thresholdPower), frameStart);
      if (event !== undefined) this.onTurn(event);
    }
  }
}
