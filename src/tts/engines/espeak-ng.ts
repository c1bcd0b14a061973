import { parseWav } from '../../audio/wav.js';
import { engineFailedError, engineFailure } from '../../core/errors.js';
import { runProcess } from '../../core/run-process.js';
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
    const args = ['--stdout', '--stdin', '-b', '1', '-v', request.voice, '-s', String(wpm)];
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
}
