import { modelUnavailableError } from '../../core/errors.js';
import { ProcessError, runProcess } from '../../core/run-process.js';
import type { VoiceDirectory, VoiceInfo } from '../engines/tts-engine.js';

const BINARY = 'espeak-ng';
const TABLE_TIMEOUT_MS = 10_000;

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

/** The voices espeak-ng ships, read once from its own tables; nothing to download. */
export class EspeakVoices implements VoiceDirectory {
  private tables: Promise<{ voices: EspeakVoice[]; variants: Set<string> }> | undefined;

  constructor(private readonly configuredVoice: string | undefined) {}

  defaultVoice(): string {
    return this.configuredVoice ?? 'en-us';
  }

  async list(): Promise<readonly VoiceInfo[]> {
    const { voices } = await this.read();
    return voices.map((v) => ({
      id: v.id,
      name: v.name,
      language: v.id,
      ...(v.gender ? { gender: v.gender } : {}),
      cached: true,
    }));
  }

  /** True for a voice id, optionally with a variant: `en-us`, `en-us+f3`. */
  async has(voice: string): Promise<boolean> {
    const { voices, variants } = await this.read();
    const [id, variant, ...rest] = voice.split('+');
    if (rest.length > 0 || !voices.some((v) => v.id === id)) return false;
    return variant === undefined || variants.has(variant);
  }

  /** espeak-ng's voices ship with it: nothing to download. */
  async assertReady(): Promise<void> {}

  /** The voice and variant tables; rejects with a 503 that says how to install espeak-ng. */
  read(): Promise<{ voices: EspeakVoice[]; variants: Set<string> }> {
    this.tables ??= readTables();
    // A failed read is retried next time (espeak-ng may be installed meanwhile).
    this.tables.catch(() => {
      this.tables = undefined;
    });
    return this.tables;
  }
}

async function readTables(): Promise<{ voices: EspeakVoice[]; variants: Set<string> }> {
  try {
    const [voiceTable, variantTable] = await Promise.all([
      runProcess(BINARY, ['--voices'], { timeoutMs: TABLE_TIMEOUT_MS }),
      runProcess(BINARY, ['--voices=variant'], { timeoutMs: TABLE_TIMEOUT_MS }),
    ]);
    const variants = variantTable.stdout
      .toString('utf8')
      .split('\n')
      .map((line) => /!v\/(\S+)/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined);
    return { voices: parseVoiceTable(voiceTable.stdout.toString('utf8')), variants: new Set(variants) };
  } catch (error) {
    const cause =
      error instanceof ProcessError && error.kind === 'not_found'
        ? 'espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)'
        : String(error);
    throw modelUnavailableError('espeak-ng', cause, error);
  }
}
