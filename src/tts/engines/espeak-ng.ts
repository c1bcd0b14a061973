import { parseWav } from '../../audio/wav.js';
import { engineFailedError, engineFailure, modelUnavailableError } from '../../core/errors.js';
import { ProcessError, runProcess } from '../../core/run-process.js';
import type { EngineDescription } from '../../core/runtime/engine.js';
import type { SynthesisRequest, SynthesisResult, TtsEngine, VoiceInfo } from './tts-engine.js';

const BINARY = 'espeak-ng';
/** espeak-ng's own default rate, in words per minute: speed 1.0. */
const BASE_WPM = 175;
/** espeak-ng clamps rates outside this range; the rest of a speed is applied by time-stretching. */
const MIN_WPM = 80;
const MAX_WPM = 450;
const SYNTHESIS_TIMEOUT_MS = 120_000;

interface EspeakVoice {
  readonly id: string;
  readonly name: string;
  readonly gender: string | undefined;
}

/** Parses `espeak-ng --voices` rows: `Pty Language Age/Gender VoiceName File Other`. */
export function parseVoiceTable(table: string): EspeakVoice[] {
  const voices = new Map<string, EspeakVoice>();
  for (const line of table.split('\n').slice(1)) {
    const [, id, ageGender, name, file] = line.trim().split(/\s+/);
    // MBROLA voices need a separate synthesiser and data that apt does not bring.
    if (id === undefined || name === undefined || file === undefined || file.startsWith('mb/')) continue;
    if (voices.has(id)) continue;
    const gender = ageGender?.split('/')[1];
    voices.set(id, {
      id,
      name: name.replaceAll('_', ' '),
      gender: gender === 'M' ? 'male' : gender === 'F' ? 'female' : undefined,
    });
  }
  return [...voices.values()];
}

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
  private voices: EspeakVoice[] | undefined;
  private variants: Set<string> | undefined;
  private loaded = false;

  constructor(private readonly options: { defaultVoice?: string | undefined } = {}) {}

  describe(): EngineDescription {
    return { engine: 'espeak-ng', modelName: 'espeak-ng', device: 'cpu' };
  }

  defaultVoice(): string {
    return this.options.defaultVoice ?? 'en-us';
  }

  async load(): Promise<void> {
    await this.readVoiceTables();
    this.loaded = true;
  }

  async unload(): Promise<void> {
    this.loaded = false;
  }

  async listVoices(): Promise<readonly VoiceInfo[]> {
    const { voices } = await this.readVoiceTables();
    return voices.map((v) => ({
      id: v.id,
      name: v.name,
      language: v.id,
      ...(v.gender ? { gender: v.gender } : {}),
      cached: true,
    }));
  }

  /** True for a voice id, optionally with a variant: `en-us`, `en-us+f3`. */
  async hasVoice(voice: string): Promise<boolean> {
    const { voices, variants } = await this.readVoiceTables();
    const [id, variant, ...rest] = voice.split('+');
    if (rest.length > 0 || !voices.some((v) => v.id === id)) return false;
    return variant === undefined || variants.has(variant);
  }

  /** espeak-ng's voices ship with it: nothing to download. */
  async assertVoiceReady(): Promise<void> {}

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

  private async readVoiceTables(): Promise<{ voices: EspeakVoice[]; variants: Set<string> }> {
    if (this.voices && this.variants) return { voices: this.voices, variants: this.variants };
    try {
      const [voiceTable, variantTable] = await Promise.all([
        runProcess(BINARY, ['--voices'], { timeoutMs: 10_000 }),
        runProcess(BINARY, ['--voices=variant'], { timeoutMs: 10_000 }),
      ]);
      this.voices = parseVoiceTable(voiceTable.stdout.toString('utf8'));
      this.variants = new Set(
        variantTable.stdout
          .toString('utf8')
          .split('\n')
          .map((line) => /!v\/(\S+)/.exec(line)?.[1])
          .filter((name): name is string => name !== undefined),
      );
      return { voices: this.voices, variants: this.variants };
    } catch (error) {
      const cause =
        error instanceof ProcessError && error.kind === 'not_found'
          ? 'espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)'
          : String(error);
      throw modelUnavailableError('espeak-ng', cause, error);
    }
  }
}
