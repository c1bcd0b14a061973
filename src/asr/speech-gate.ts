/**
 * Is anyone speaking, and where? Whisper given silence, room tone or a click does not
 * say nothing: it invents a phrase ("Thank you for watching."). So no audio reaches it
 * unless something speech-like is there, and what it says over no speech is dropped.
 *
 * Without a Silero VAD model this is an energy gate, chosen to let speech through
 * rather than to be clever: a 20 ms frame counts as active when it is above an absolute
 * floor and clearly above the recording's own noise floor (its 10th-percentile frame),
 * and only active stretches of a quarter second or more count as speech. Steady sound —
 * hiss, hum, a fan — never rises above its own floor; a click is too short.
 */
import type { SpeechRegion, TranscriptSegment } from './engines/asr-engine.js';

export type { SpeechRegion };

const FRAME_SECONDS = 0.02;
/** Quieter than this is silence whatever the floor: -50 dBFS is a whisper far from the microphone. */
const ABSOLUTE_FLOOR_DBFS = -50;
/** Above the noise floor by this much: steady noise varies by a dB or two from frame to frame. */
const ABOVE_NOISE_DB = 8;
const NOISE_FLOOR_PERCENTILE = 0.1;
/** Active stretches closer than this are one utterance (the gaps between words). */
const MERGE_GAP_SECONDS = 0.3;
/** Shorter than this is a click or a knock, not a word: even "yes" takes longer. */
const MIN_SPEECH_SECONDS = 0.25;
/** Kept either side of each region, so soft word onsets and endings are not cut. */
const PAD_SECONDS = 0.2;

/** Frames measured between two turns of the event loop: 16 s of 16 kHz audio, a few tenths of a ms. */
const FRAMES_PER_TURN = 800;

/** The speech regions of mono audio by its energy, padded and merged, in order. */
export function energySpeechRegions(samples: Float32Array, sampleRate: number): SpeechRegion[] {
  const frame = frameLength(sampleRate);
  const levels = new Float32Array(Math.floor(samples.length / frame));
  measureFrames(samples, frame, levels, 0, levels.length);
  return regionsFromLevels(levels, frame, samples.length, sampleRate);
}

/**
 * energySpeechRegions, awaiting `turn` every few seconds of audio: a five-minute block is 4.8 M
 * samples to square and sum, several milliseconds that the event loop would otherwise wait for.
 */
export async function energySpeechRegionsInTurns(
  samples: Float32Array,
  sampleRate: number,
  turn: () => Promise<void>,
): Promise<SpeechRegion[]> {
  const frame = frameLength(sampleRate);
  const levels = new Float32Array(Math.floor(samples.length / frame));
  for (let from = 0; from < levels.length; from += FRAMES_PER_TURN) {
    if (from > 0) await turn();
    measureFrames(samples, frame, levels, from, Math.min(levels.length, from + FRAMES_PER_TURN));
  }
  return regionsFromLevels(levels, frame, samples.length, sampleRate);
}

function frameLength(sampleRate: number): number {
  return Math.max(1, Math.round(sampleRate * FRAME_SECONDS));
}

function regionsFromLevels(
  levels: Float32Array,
  frame: number,
  sampleCount: number,
  sampleRate: number,
): SpeechRegion[] {
  if (levels.length === 0) return [];
  const threshold = Math.max(
    ABSOLUTE_FLOOR_DBFS,
    percentile(levels, NOISE_FLOOR_PERCENTILE) + ABOVE_NOISE_DB,
  );
  const frameSeconds = frame / sampleRate;
  const active = activeRuns(levels, threshold, Math.round(MERGE_GAP_SECONDS / frameSeconds));
  const duration = sampleCount / sampleRate;
  const regions: SpeechRegion[] = [];
  for (const run of active) {
    if (run.activeFrames * frameSeconds < MIN_SPEECH_SECONDS) continue;
    const start = Math.max(0, run.first * frameSeconds - PAD_SECONDS);
    const end = Math.min(duration, (run.last + 1) * frameSeconds + PAD_SECONDS);
    const previous = regions[regions.length - 1];
    if (previous !== undefined && start <= previous.end)
      regions[regions.length - 1] = { start: previous.start, end };
    else regions.push({ start, end });
  }
  return regions;
}

/** Mean power of whole frames `from` … `to - 1`, in dBFS (a full-scale sine is -3), into `levels`. */
function measureFrames(samples: Float32Array, frame: number, levels: Float32Array, from: number, to: number) {
  for (let f = from; f < to; f++) {
    let power = 0;
    for (let i = f * frame; i < (f + 1) * frame; i++) power += (samples[i] as number) ** 2;
    levels[f] = 10 * Math.log10(power / frame + 1e-12);
  }
}

function percentile(values: Float32Array, fraction: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number;
}

interface ActiveRun {
  first: number;
  last: number;
  activeFrames: number;
}

/** Runs of frames above the threshold, joined across gaps of up to `maxGap` frames. */
function activeRuns(levels: Float32Array, threshold: number, maxGap: number): ActiveRun[] {
  const runs: ActiveRun[] = [];
  let current: ActiveRun | undefined;
  for (let f = 0; f < levels.length; f++) {
    if ((levels[f] as number) <= threshold) continue;
    if (current !== undefined && f - current.last - 1 <= maxGap) {
      current.last = f;
      current.activeFrames += 1;
    } else {
      current = { first: f, last: f, activeFrames: 1 };
      runs.push(current);
    }
  }
  return runs;
}

/** The segments that overlap speech; the rest is what whisper made up over silence. */
export function keepSpokenSegments(
  segments: readonly TranscriptSegment[],
  regions: readonly SpeechRegion[],
): TranscriptSegment[] {
  return segments.filter((segment) =>
    regions.some((region) => segment.start < region.end && segment.end > region.start),
  );
}
