/**
 * A Piper voice's `.onnx.json` and the step from phonemes to the model's ids, as
 * piper-phonemize does it: BOS, then each phoneme's ids followed by the pad id,
 * then EOS; phonemes the voice does not know are skipped.
 */
import { readFile } from 'node:fs/promises';

export interface PiperVoiceConfig {
  readonly sampleRate: number;
  readonly espeakVoice: string;
  readonly noiseScale: number;
  readonly lengthScale: number;
  readonly noiseW: number;
  readonly numSpeakers: number;
  readonly phonemeIds: ReadonlyMap<string, readonly number[]>;
}

interface RawConfig {
  audio?: { sample_rate?: number };
  espeak?: { voice?: string };
  inference?: { noise_scale?: number; length_scale?: number; noise_w?: number };
  num_speakers?: number;
  phoneme_id_map?: Record<string, number[]>;
}

export async function readPiperConfig(path: string): Promise<PiperVoiceConfig> {
  const raw = JSON.parse(await readFile(path, 'utf8')) as RawConfig;
  const map = raw.phoneme_id_map;
  if (!map || !raw.audio?.sample_rate) {
    throw new Error(`${path} is not a Piper voice config (no phoneme_id_map or audio.sample_rate)`);
  }
  return {
    sampleRate: raw.audio.sample_rate,
    espeakVoice: raw.espeak?.voice ?? 'en-us',
    noiseScale: raw.inference?.noise_scale ?? 0.667,
    lengthScale: raw.inference?.length_scale ?? 1,
    noiseW: raw.inference?.noise_w ?? 0.8,
    numSpeakers: raw.num_speakers ?? 1,
    phonemeIds: new Map(Object.entries(map)),
  };
}

const PAD = '_';
const BOS = '^';
const EOS = '$';

export function phonemesToIds(phonemes: string, map: ReadonlyMap<string, readonly number[]>): number[] {
  const pad = map.get(PAD) ?? [0];
  const ids = [...(map.get(BOS) ?? []), ...pad];
  for (const phoneme of phonemes) {
    const known = map.get(phoneme);
    if (known) ids.push(...known, ...pad);
  }
  ids.push(...(map.get(EOS) ?? []));
  return ids;
}
