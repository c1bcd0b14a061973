/**
 * The downloadable voices of the neural engines, as MODEL_CACHE_DIR entries that
 * `voice-stack models pull` fetches like the whisper models.
 *
 * Where the figures come from, and what is missing:
 * - Piper: files from huggingface.co/rhasspy/piper-voices at its `v1.0.0` tag. Model
 *   sizes (and MD5s) are those of Piper's own voices.json. Piper publishes MD5, not
 *   SHA-256; the SHA-256s given are Hugging Face's LFS object ids, found for four
 *   voices only (en_US-lessac-medium, en_US-ryan-medium, en_GB-alan-medium,
 *   en_GB-alba-medium). Every voice with a published MD5 has it checked by the
 *   downloader too (size + MD5 where no SHA-256 is known). The `.onnx.json` configs changed size between releases, so only the four
 *   sizes read from the same listing as those hashes are given.
 *   de_DE-thorsten-high, pt_PT-tugão-medium and it_IT-paola-medium: no published size
 *   or hash was found; they download unchecked.
 * - Kokoro v1.0: huggingface.co/onnx-community/Kokoro-82M-v1.0-ONNX. The model's size
 *   (325 532 232 bytes) is from a published listing; no SHA-256 was found. Each voice
 *   is a raw float32 [510, 1, 256] style table, hence exactly 522 240 bytes; no
 *   SHA-256 was found for them either.
 */
import type { CacheableModel } from '../core/model-cache.js';

const PIPER_BASE = 'https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0';
const KOKORO_BASE = 'https://huggingface.co/onnx-community/Kokoro-82M-v1.0-ONNX/resolve/main';

export interface PiperVoiceEntry {
  /** Piper's voice key, also the `voice` a client sends: `en_US-lessac-medium`. */
  readonly id: string;
  /** BCP-47-ish tag, e.g. `en-us`. */
  readonly language: string;
  readonly quality: 'x_low' | 'low' | 'medium' | 'high';
  readonly gender?: 'female' | 'male';
  readonly model: CacheableModel;
  readonly config: CacheableModel;
  /** Piper's published MD5 of the model, also on `model` (the downloader checks it). */
  readonly md5?: string;
}

interface PiperFigures {
  readonly size?: number;
  readonly md5?: string;
  readonly sha256?: string;
  readonly configSize?: number;
  readonly gender?: 'female' | 'male';
}

function piperVoice(id: string, figures: PiperFigures): PiperVoiceEntry {
  const [locale = '', speaker = '', quality = 'medium'] = id.split('-');
  const family = locale.split('_')[0] ?? '';
  const dir = `${PIPER_BASE}/${family}/${locale}/${encodeURIComponent(speaker)}/${quality}/${encodeURIComponent(id)}`;
  const fileName = id.normalize('NFD').replace(/[^A-Za-z0-9._-]/g, '');
  const config: CacheableModel = {
    family: 'piper',
    name: `${id}.json`,
    fileName: `${fileName}.onnx.json`,
    url: `${dir}.onnx.json`,
    ...(figures.configSize === undefined ? {} : { sizeBytes: figures.configSize }),
  };
  const model: CacheableModel = {
    family: 'piper',
    name: id,
    fileName: `${fileName}.onnx`,
    url: `${dir}.onnx`,
    ...(figures.size === undefined ? {} : { sizeBytes: figures.size }),
    ...(figures.sha256 === undefined ? {} : { sha256: figures.sha256 }),
    ...(figures.md5 === undefined ? {} : { md5: figures.md5 }),
    // A Piper voice is its model plus its config (sample rate, phoneme map): one pull brings both.
    companions: [config],
  };
  return {
    id,
    language: locale.toLowerCase().replace('_', '-'),
    quality: quality as PiperVoiceEntry['quality'],
    ...(figures.gender ? { gender: figures.gender } : {}),
    model,
    config,
    ...(figures.md5 ? { md5: figures.md5 } : {}),
  };
}

const LOW = 63104526;
const MEDIUM = 63201294;

export const PIPER_VOICES: readonly PiperVoiceEntry[] = [
  piperVoice('en_US-lessac-low', { size: MEDIUM, md5: '31883a7506589feadf3c3474fd8ef658', gender: 'female' }),
  piperVoice('en_US-lessac-medium', {
    size: MEDIUM,
    md5: '2fc642b535197b6305c7c8f92dc8b24f',
    sha256: '5efe09e69902187827af646e1a6e9d269dee769f9877d17b16b1b46eeaaf019f',
    configSize: 4885,
    gender: 'female',
  }),
  piperVoice('en_US-lessac-high', {
    size: 113895201,
    md5: '99d1f6181a7f5ccbe3f117ba8ce63c93',
    gender: 'female',
  }),
  piperVoice('en_US-amy-low', { size: LOW, md5: '3c3f6a6ec605f3a59763256d3b2db012', gender: 'female' }),
  piperVoice('en_US-amy-medium', { size: MEDIUM, md5: '778d28aeb95fcdf8a882344d9df142fc', gender: 'female' }),
  piperVoice('en_US-ryan-low', { size: LOW, md5: '32f6a995d6d561cd040b20a76f4edb1e', gender: 'male' }),
  piperVoice('en_US-ryan-medium', {
    size: MEDIUM,
    md5: '8f06d3aff8ded5a7f13f907e6bec32ac',
    sha256: 'abf4c274862564ed647ba0d2c47f8ee7c9b717d27bdad9219100eb310db4047a',
    configSize: 4883,
    gender: 'male',
  }),
  piperVoice('en_US-ryan-high', { size: 120786792, md5: '5d879a17bddf5007f76655b445ba78b4', gender: 'male' }),
  piperVoice('en_GB-alan-low', { size: LOW, md5: '2acae8c79395ab109a7572f0afa61fff', gender: 'male' }),
  piperVoice('en_GB-alan-medium', {
    size: MEDIUM,
    md5: '8f6b35eeb8ef6269021c6cb6d2414c9b',
    sha256: '0a309668932205e762801f1efc2736cd4b0120329622adf62be09e56339d3330',
    configSize: 4888,
    gender: 'male',
  }),
  piperVoice('en_GB-alba-medium', {
    size: MEDIUM,
    md5: 'c07f313752bb3aba8061041666251654',
    sha256: '401369c4a81d09fdd86c32c5c864440811dbdcc66466cde2d64f7133a66ad03b',
    configSize: 4888,
    gender: 'female',
  }),
  piperVoice('de_DE-thorsten-low', { size: LOW, md5: 'c06eb96aceb61895fcb09ffc30eef60b', gender: 'male' }),
  piperVoice('de_DE-thorsten-medium', {
    size: MEDIUM,
    md5: 'a129b00fb3078df43c96bab6c94535c0',
    gender: 'male',
  }),
  piperVoice('de_DE-thorsten-high', { gender: 'male' }),
  piperVoice('de_DE-eva_k-x_low', {
    size: 20628813,
    md5: '51bfc52a58282c2e4fc01ae66567a708',
    gender: 'female',
  }),
  piperVoice('de_DE-kerstin-low', { size: LOW, md5: '1d5e5788cfddb04cbb34418f2841931e', gender: 'female' }),
  piperVoice('fr_FR-siwis-low', {
    size: 28130791,
    md5: 'fcb614122005d70f27e4e61e58b4bb56',
    gender: 'female',
  }),
  piperVoice('fr_FR-siwis-medium', {
    size: MEDIUM,
    md5: '20e876e8c839e9b11a26085858f2300c',
    gender: 'female',
  }),
  piperVoice('fr_FR-gilles-low', { size: LOW, md5: 'f984386d1f0927597f09a3ec10b11b5d', gender: 'male' }),
  piperVoice('es_ES-davefx-medium', {
    size: MEDIUM,
    md5: 'dc515cd4ecc5f6f72fe14a941188fc9c',
    gender: 'male',
  }),
  piperVoice('es_ES-carlfm-x_low', {
    size: 28130791,
    md5: '4137b5aee01ea6241080fc4dbe59a8ee',
    gender: 'male',
  }),
  piperVoice('es_MX-ald-medium', { size: MEDIUM, md5: '86374058e59b41ac3b7fe4181e1daad6', gender: 'male' }),
  piperVoice('pt_BR-faber-medium', { size: MEDIUM, md5: 'e0724a2f07965f6523d2a1e96b488a4c', gender: 'male' }),
  piperVoice('pt_BR-edresson-low', { size: LOW, md5: '53e365c040dd07890fe1855b64c7cc58', gender: 'male' }),
  piperVoice('pt_PT-tugão-medium', { gender: 'male' }),
  piperVoice('it_IT-riccardo-x_low', {
    size: 28130791,
    md5: '2c564b67f6bfaf3ad02d28ab528929b8',
    gender: 'male',
  }),
  piperVoice('it_IT-paola-medium', { gender: 'female' }),
];

export interface KokoroVoiceEntry {
  readonly id: string;
  readonly name: string;
  readonly language: string;
  /** The espeak-ng voice that phonemises text for it. */
  readonly espeakVoice: string;
  readonly gender: 'female' | 'male';
  readonly file: CacheableModel;
}

/** Kokoro's voice prefixes: first letter the language, second the gender. */
const KOKORO_LANGUAGES: Record<string, { language: string; espeak: string }> = {
  a: { language: 'en-us', espeak: 'en-us' },
  b: { language: 'en-gb', espeak: 'en-gb' },
  e: { language: 'es', espeak: 'es' },
  f: { language: 'fr-fr', espeak: 'fr-fr' },
  h: { language: 'hi', espeak: 'hi' },
  i: { language: 'it', espeak: 'it' },
  j: { language: 'ja', espeak: 'ja' },
  p: { language: 'pt-br', espeak: 'pt-br' },
  z: { language: 'cmn', espeak: 'cmn' },
};

const KOKORO_VOICE_IDS = [
  'af_alloy',
  'af_aoede',
  'af_bella',
  'af_heart',
  'af_jessica',
  'af_kore',
  'af_nicole',
  'af_nova',
  'af_river',
  'af_sarah',
  'af_sky',
  'am_adam',
  'am_echo',
  'am_eric',
  'am_fenrir',
  'am_liam',
  'am_michael',
  'am_onyx',
  'am_puck',
  'am_santa',
  'bf_alice',
  'bf_emma',
  'bf_isabella',
  'bf_lily',
  'bm_daniel',
  'bm_fable',
  'bm_george',
  'bm_lewis',
  'ef_dora',
  'em_alex',
  'em_santa',
  'ff_siwis',
  'hf_alpha',
  'hf_beta',
  'hm_omega',
  'hm_psi',
  'if_sara',
  'im_nicola',
  'jf_alpha',
  'jf_gongitsune',
  'jf_nezumi',
  'jf_tebukuro',
  'jm_kumo',
  'pf_dora',
  'pm_alex',
  'pm_santa',
  'zf_xiaobei',
  'zf_xiaoni',
  'zf_xiaoxiao',
  'zf_xiaoyi',
  'zm_yunjian',
  'zm_yunxi',
  'zm_yunxia',
  'zm_yunyang',
];

/** 510 rows (one per token count) × 256 float32 style values. */
export const KOKORO_VOICE_BYTES = 510 * 256 * 4;
export const KOKORO_VOICE_FILE_PREFIX = 'kokoro-v1.0-';

function kokoroVoice(id: string): KokoroVoiceEntry {
  const lang = KOKORO_LANGUAGES[id[0] ?? 'a'] ?? { language: 'en-us', espeak: 'en-us' };
  const name = id.slice(3);
  return {
    id,
    name: name.charAt(0).toUpperCase() + name.slice(1),
    language: lang.language,
    espeakVoice: lang.espeak,
    gender: id[1] === 'm' ? 'male' : 'female',
    file: {
      family: 'kokoro',
      name: `kokoro-${id}`,
      fileName: `${KOKORO_VOICE_FILE_PREFIX}${id}.bin`,
      url: `${KOKORO_BASE}/voices/${id}.bin`,
      sizeBytes: KOKORO_VOICE_BYTES,
    },
  };
}

export const KOKORO_VOICES: readonly KokoroVoiceEntry[] = KOKORO_VOICE_IDS.map(kokoroVoice);

export const KOKORO_MODELS: readonly CacheableModel[] = [
  {
    family: 'kokoro',
    name: 'kokoro-v1.0',
    fileName: 'kokoro-v1.0.onnx',
    url: `${KOKORO_BASE}/onnx/model.onnx`,
    sizeBytes: 325532232,
  },
  {
    family: 'kokoro',
    name: 'kokoro-v1.0-q8',
    fileName: 'kokoro-v1.0-q8.onnx',
    url: `${KOKORO_BASE}/onnx/model_quantized.onnx`,
  },
];

export const DEFAULT_PIPER_VOICE = 'en_US-lessac-medium';
export const DEFAULT_KOKORO_VOICE = 'af_heart';
export const DEFAULT_KOKORO_MODEL = 'kokoro-v1.0';

/** Every TTS download, for `registerModelsCommand(program, dir, { entries: TTS_MODEL_ENTRIES })`. */
export const TTS_MODEL_ENTRIES: readonly CacheableModel[] = [
  ...PIPER_VOICES.flatMap((voice) => [voice.model, voice.config]),
  ...KOKORO_MODELS,
  ...KOKORO_VOICES.map((voice) => voice.file),
];

export function findPiperVoice(id: string): PiperVoiceEntry | undefined {
  return PIPER_VOICES.find((voice) => voice.id === id);
}

export function findKokoroVoice(id: string): KokoroVoiceEntry | undefined {
  return KOKORO_VOICES.find((voice) => voice.id === id);
}
