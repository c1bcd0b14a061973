import { parseWav, WavStreamReader } from '../../audio/wav.js';
import { engineFailedError, engineFailure } from '../../core/errors.js';
import { runProcess, streamProcess } from '../../core/run-process.js';
import type { EngineDescription } from '../../core/runtime/engine.js';
import { EspeakVoices } from '../voices/espeak-voices.js';
import type { SynthesisRequest, SynthesisResult, TtsEngine } from './tts-engine.js';

const BINARY = 'espeak-ng';
/** espeak-ng's own default rate, in words per minute: speed 1.0. */
const BASE_WPM = 175;
/** espeak-ng clamps rates outside this range; the rest of a speed is applied by time-stretching. */
const MIN_WPM = 80;
const MAX_WPM = 450;
const SYNTHESIS_TIMEOUT_MS = 120_000;
/**
 * Streamed output is passed on in pieces of at least this much audio, cut in the
 * middle of a silence (espeak-ng writes exact zeros between words), so a piece that
 * is resampled on its own (24 kHz pcm) has no edge inside a sound. espeak-ng makes
 * audio a hundred times faster than it plays, so waiting for a fifth of a second costs
 * about two milliseconds.
 */
const MIN_PIECE_SECONDS = 0.2;
/**
 * The first piece may be shorter: whatever precedes the first byte on the wire
 * (resampling, conversion) is done on less audio, and the rest follows at once.
 */
const MIN_FIRST_PIECE_SECONDS = 0.05;
/** Without a silence, a piece is cut anyway at this length. */
const MAX_PIECE_SECONDS = 2;
/** Consecutive zero samples that count as a silence to cut in. */
const SILENCE_SAMPLES = 32;

/** Splits a requested speed into espeak-ng's rate and the factor left for a time stretch. */
export function rateForSpeed(speed: number): { wpm: number; residualSpeed: number } {
  const wanted = BASE_WPM * speed;
  const wpm = Math.round(Math.min(MAX_WPM, Math.max(MIN_WPM, wanted)));
  return { wpm, residualSpeed: wanted / wpm };
}

/**
 * espeak-ng as a child process: formant synthesis, no model download, every
 * language it ships. "Loading" checks the binary and reads its voice table, so the
 * lifecycle and health report behave as with the neural engines.
 */
export class EspeakNgEngine implements TtsEngine {
  readonly voices: EspeakVoices;
  private loaded = false;

  constructor(options: { defaultVoice?: string | undefined } = {}) {
    this.voices = new EspeakVoices(options.defaultVoice);
  }

  describe(): EngineDescription {
    return { engine: 'espeak-ng', modelName: 'espeak-ng', device: 'cpu' };
  }

  async load(): Promise<void> {
    await this.voices.read();
    this.loaded = true;
  }

  async unload(): Promise<void> {
    this.loaded = false;
  }

  async synthesize(request: SynthesisRequest, signal: AbortSignal): Promise<SynthesisResult> {
    if (!this.loaded) throw engineFailedError('espeak-ng', 'synthesize called before load');
    const { wpm, residualSpeed } = rateForSpeed(request.speed);
    const args = argsFor(request.voice, wpm);
    try {
      const { stdout } = await runProcess(BINARY, args, {
        stdin: request.text,
        signal,
        timeoutMs: SYNTHESIS_TIMEOUT_MS,
      });
      const wav = parseWav(stdout);
      const samples = wav.channelData[0];
      if (samples === undefined) throw new Error('no audio channel in output');
      return { audio: { sampleRate: wav.sampleRate, samples }, residualSpeed };
    } catch (error) {
      throw engineFailure('espeak-ng', error, signal);
    }
  }

  /**
   * The whole text in one espeak-ng process, its WAV read off stdout while it is
   * written: one process start instead of one per sentence, and the first audio
   * before the last sentence is made.
   */
  async *synthesizeText(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<SynthesisResult> {
    if (!this.loaded) throw engineFailedError('espeak-ng', 'synthesize called before load');
    const { wpm, residualSpeed } = rateForSpeed(request.speed);
    const reader = new WavStreamReader();
    const pieces = new PieceCutter();
    try {
      for await (const chunk of streamProcess(BINARY, argsFor(request.voice, wpm), {
        stdin: request.text,
        signal,
        timeoutMs: SYNTHESIS_TIMEOUT_MS,
      })) {
        const samples = reader.push(chunk);
        const sampleRate = reader.info?.sampleRate;
        if (sampleRate === undefined || samples.length === 0) continue;
        for (const piece of pieces.push(samples, sampleRate)) {
          yield { audio: { sampleRate, samples: piece }, residualSpeed };
        }
      }
      const sampleRate = reader.info?.sampleRate;
      if (sampleRate === undefined) throw new Error('no WAV header in output');
      const rest = pieces.rest();
      if (rest.length > 0) yield { audio: { sampleRate, samples: rest }, residualSpeed };
    } catch (error) {
      throw engineFailure('espeak-ng', error, signal);
    }
  }
}

function argsFor(voice: string, wpm: number): string[] {
  return ['--stdout', '--stdin', '-b', '1', '-v', voice, '-s', String(wpm)];
}

/** Gathers streamed samples into pieces cut in silences (see MIN_PIECE_SECONDS). */
class PieceCutter {
  #buffered: Float32Array = new Float32Array(0);
  #first = true;

  *push(samples: Float32Array, sampleRate: number): Generator<Float32Array> {
    const joined = new Float32Array(this.#buffered.length + samples.length);
    joined.set(this.#buffered);
    joined.set(samples, this.#buffered.length);
    let rest = joined;
    const max = Math.round(MAX_PIECE_SECONDS * sampleRate);
    for (;;) {
      const min = Math.round((this.#first ? MIN_FIRST_PIECE_SECONDS : MIN_PIECE_SECONDS) * sampleRate);
      if (rest.length < min) break;
      const cut = firstSilenceMiddle(rest, min) ?? (rest.length >= max ? max : undefined);
      if (cut === undefined) break;
      this.#first = false;
      yield rest.slice(0, cut);
      rest = rest.subarray(cut);
    }
    this.#buffered = rest.slice();
  }

  rest(): Float32Array {
    const rest = this.#buffered;
    this.#buffered = new Float32Array(0);
    return rest;
  }
}

/**
 * The middle of the first run of SILENCE_SAMPLES zeros whose middle is at or after
 * `from`. The first, not the last: espeak-ng's first write is 64 KiB (1.5 s of audio),
 * and handing it over in short pieces puts the first of them on the wire before the
 * rest is resampled and encoded.
 */
function firstSilenceMiddle(samples: Float32Array, from: number): number | undefined {
  let start = Math.min(from, samples.length);
  while (start > 0 && samples[start - 1] === 0) start--;
  let run = 0;
  for (let i = start; i < samples.length; i++) {
    if (samples[i] === 0) {
      run++;
      continue;
    }
    const middle = i - run + (run >> 1);
    if (run >= SILENCE_SAMPLES && middle >= from) return middle;
    run = 0;
  }
  const middle = samples.length - run + (run >> 1);
  return run >= SILENCE_SAMPLES && middle >= from ? middle : undefined;
}
