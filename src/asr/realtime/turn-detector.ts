/**
 * Server VAD for Realtime sessions: where an utterance starts and where it ends, decided
 * as audio arrives, on 20 ms frames of the session's own samples. It is an energy
 * detector: a frame is speech when its level is over the session's `threshold`, mapped
 * from OpenAI's 0–1 onto -70…-10 dBFS (the default 0.5 is -40 dBFS: a voice near a
 * microphone is -30…-15, room noise well under -50). Speech starts after a few speech
 * frames in a row (a click is one) and stops after `silence_duration_ms` without one.
 * Positions are sample counts of the session's timeline, so it needs no clock.
 */
import type { ServerVad } from './protocol.js';

const FRAME_SECONDS = 0.02;
/** Speech frames in a row before speech counts as started: 60 ms, shorter than any syllable. */
const START_FRAMES = 3;
const FLOOR_DB = -70;
const RANGE_DB = 60;
const FULL_SCALE = 32768;

export type TurnEvent =
  | { readonly kind: 'speech_started'; readonly at: number }
  | { readonly kind: 'speech_stopped'; readonly at: number };

export class TurnDetector {
  readonly #frame: number;
  readonly #thresholdPower: number;
  readonly #stopFrames: number;
  /** Samples of an incomplete frame, carried to the next push. */
  readonly #partial: Int16Array;
  #partialLength = 0;
  /** Session position of the first sample of the frame being filled. */
  #position = 0;
  #speaking = false;
  #activeRun = 0;
  #runStart = 0;
  #silentRun = 0;

  constructor(config: ServerVad, sampleRate: number) {
    this.#frame = Math.max(1, Math.round(sampleRate * FRAME_SECONDS));
    const thresholdDb = FLOOR_DB + RANGE_DB * config.threshold;
    this.#thresholdPower = 10 ** (thresholdDb / 10) * FULL_SCALE * FULL_SCALE;
    this.#stopFrames = Math.max(1, Math.round(config.silence_duration_ms / 1000 / FRAME_SECONDS));
    this.#partial = new Int16Array(this.#frame);
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** Starts over at `position` (after a commit or a clear), not speaking. */
  reset(position: number): void {
    this.#position = position;
    this.#partialLength = 0;
    this.#speaking = false;
    this.#activeRun = 0;
    this.#silentRun = 0;
  }

  /** Feeds the next samples of the session; returns what they started or stopped. */
  push(samples: Int16Array): TurnEvent[] {
    const events: TurnEvent[] = [];
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
      const event = this.#onFrame(this.#isSpeech(this.#partial), frameStart);
      if (event !== undefined) events.push(event);
    }
    return events;
  }

  #isSpeech(frame: Int16Array): boolean {
    let power = 0;
    for (let i = 0; i < frame.length; i++) power += (frame[i] as number) ** 2;
    return power / frame.length > this.#thresholdPower;
  }

  #onFrame(speech: boolean, frameStart: number): TurnEvent | undefined {
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
