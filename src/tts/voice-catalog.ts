/**
 * The downloadable voices of the neural engines, as MODEL_CACHE_DIR entries that
 * `voice-stack models pull` fetches like the whisper models.
 *
 * Where the figures come from (every hash was read from a published source, none computed
 * here; this machine cannot download the files):
 * - Piper: files from huggingface.co/rhasspy/piper-voices at its `v1.0.0` tag. SHA-256 of
 *   every `.onnx`: Git LFS pointers of a GitHub mirror of that repository
 *   (smseagle/piper-voices) and the voice pin lists of other projects, most seen in two or
 *   more; `en_US-ryan-high` in one only. The MD5s are Piper's own voices.json and are checked
 *   too. `.onnx` bytes are the same at every revision seen; the `.onnx.json` configs changed
 *   between revisions, so a config carries a SHA-256 and size only where they were pinned
 *   against `v1.0.0` or agree with its listing (8 of 27); the rest are parsed and validated
 *   when loaded.
 * - Kokoro v1.0: huggingface.co/onnx-community/Kokoro-82M-v1.0-ONNX at revision 1939ad2a.
 *   Both models have size and SHA-256; 12 of the 54 voices have a published SHA-256, the
 *   others their exact size (each is a raw float32 [510, 1, 256] style table, 522 240 bytes).
 */
import type { CacheableModel } from '../core/models/model-cache.js';

const PIPER_BASE = 'https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0';
// Pinned to a revision, so the bytes behind a URL cannot change under its checksum.
const KOKORO_BASE =
  'https://huggingface.co/onnx-community/Kokoro-82M-v1.0-ONNX/resolve/1939ad2a8e416c0acfeecc08a694d14ef25f2231';

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
  readonly configSha256?: string;
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
    ...(figures.configSha256 === undefined ? {} : { sha256: figures.configSha256 }),
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
  piperVoice('en_US-lessac-low', {
    size: MEDIUM,
    md5: '31883a7506589feadf3c3474fd8ef658',
    sha256: 'f7d01dde371555732c4c314111ac79672b1a5ce2fc19266ab42178fd8df7f375',
    configSha256: '45754dfdebb3b8661c3fc564713772deec6e064feeb5b4e9594857dc7305193a',
    configSize: 4882,
    gender: 'female',
  }),
  piperVoice('en_US-lessac-medium', {
    size: MEDIUM,
    md5: '2fc642b535197b6305c7c8f92dc8b24f',
    sha256: '5efe09e69902187827af646e1a6e9d269dee769f9877d17b16b1b46eeaaf019f',
    configSha256: 'efe19c417bed055f2d69908248c6ba650fa135bc868b0e6abb3da181dab690a0',
    configSize: 4885,
    gender: 'female',
  }),
  piperVoice('en_US-lessac-high', {
    size: 113895201,
    md5: '99d1f6181a7f5ccbe3f117ba8ce63c93',
    sha256: '4cabf7c3a638017137f34a1516522032d4fe3f38228a843cc9b764ddcbcd9e09',
    gender: 'female',
  }),
  piperVoice('en_US-amy-low', {
    size: LOW,
    md5: '3c3f6a6ec605f3a59763256d3b2db012',
    sha256: 'a5a91abb7de0f104358a25aded480ddacf1ff0762886325886ec406a2e86aab3',
    gender: 'female',
  }),
  piperVoice('en_US-amy-medium', {
    size: MEDIUM,
    md5: '778d28aeb95fcdf8a882344d9df142fc',
    sha256: 'b3a6e47b57b8c7fbe6a0ce2518161a50f59a9cdd8a50835c02cb02bdd6206c18',
    gender: 'female',
  }),
  piperVoice('en_US-ryan-low', {
    size: LOW,
    md5: '32f6a995d6d561cd040b20a76f4edb1e',
    sha256: '8d21a085cc4c0010f1f3e91d5008c8691277ccfa744eb0d747becd33a3444baf',
    gender: 'male',
  }),
  piperVoice('en_US-ryan-medium', {
    size: MEDIUM,
    md5: '8f06d3aff8ded5a7f13f907e6bec32ac',
    sha256: 'abf4c274862564ed647ba0d2c47f8ee7c9b717d27bdad9219100eb310db4047a',
    configSha256: '44034c056cb15681b2ad494307c7f3f2e4499d1253c700c711fa0a4607ffe78d',
    configSize: 4883,
    gender: 'male',
  }),
  piperVoice('en_US-ryan-high', {
    size: 120786792,
    md5: '5d879a17bddf5007f76655b445ba78b4',
    sha256: 'b3990d7606e183ec8dbfba70a4607074f162de1a0c412e0180d1ff60bb154eca',
    gender: 'male',
  }),
  piperVoice('en_GB-alan-low', {
    size: LOW,
    md5: '2acae8c79395ab109a7572f0afa61fff',
    sha256: 'a1f60584620a2bed203de823d08f5abb336fb15f3d6f33f8c341e3e2cabf5dde',
    gender: 'male',
  }),
  piperVoice('en_GB-alan-medium', {
    size: MEDIUM,
    md5: '8f6b35eeb8ef6269021c6cb6d2414c9b',
    sha256: '0a309668932205e762801f1efc2736cd4b0120329622adf62be09e56339d3330',
    configSha256: 'c0f0d124e5895c00e7c03b35dcc8287f319a6998a365b182deb5c8e752ee8c1e',
    configSize: 4888,
    gender: 'male',
  }),
  piperVoice('en_GB-alba-medium', {
    size: MEDIUM,
    md5: 'c07f313752bb3aba8061041666251654',
    sha256: '401369c4a81d09fdd86c32c5c864440811dbdcc66466cde2d64f7133a66ad03b',
    configSha256: 'aa965a2f02ecced632c2694e1fc72bbff6d65f265fab567ca945918c73dd89f4',
    configSize: 4888,
    gender: 'female',
  }),
  piperVoice('de_DE-thorsten-low', {
    size: LOW,
    md5: 'c06eb96aceb61895fcb09ffc30eef60b',
    sha256: '9ac27fad17cec5c1a791161976a64f026f16fc058b400b1fea62565b8b2cf375',
    gender: 'male',
  }),
  piperVoice('de_DE-thorsten-medium', {
    size: MEDIUM,
    md5: 'a129b00fb3078df43c96bab6c94535c0',
    sha256: '7e64762d8e5118bb578f2eea6207e1a35a8e0c30595010b666f983fc87bb7819',
    gender: 'male',
  }),
  piperVoice('de_DE-thorsten-high', {
    size: 113895201,
    sha256: '9df1c43c61149ef9b39e618e2b861fbe41e1fcea9390b2dac62e8761573ea4f1',
    gender: 'male',
  }),
  piperVoice('de_DE-eva_k-x_low', {
    size: 20628813,
    md5: '51bfc52a58282c2e4fc01ae66567a708',
    sha256: 'e88cf290fbfb768bf111330d2e8a46e376b0d85e3423a28bfebbc863a260dad8',
    gender: 'female',
  }),
  piperVoice('de_DE-kerstin-low', {
    size: LOW,
    md5: '1d5e5788cfddb04cbb34418f2841931e',
    sha256: 'd352a7641892cebf2903859af94e9ba81a141110215fe3943bcda7f7da401b7a',
    gender: 'female',
  }),
  piperVoice('fr_FR-siwis-low', {
    size: 28130791,
    md5: 'fcb614122005d70f27e4e61e58b4bb56',
    sha256: 'a7b7dcaf87229b32af8275cb1a719371234ea677bc0313d2289d5c50ab0ac53d',
    gender: 'female',
  }),
  piperVoice('fr_FR-siwis-medium', {
    size: MEDIUM,
    md5: '20e876e8c839e9b11a26085858f2300c',
    sha256: '641d1ab097da2b81128c076810edb052b385decc8be3381814802a64a73baf99',
    gender: 'female',
  }),
  piperVoice('fr_FR-gilles-low', {
    size: LOW,
    md5: 'f984386d1f0927597f09a3ec10b11b5d',
    sha256: '5cd711846720e261c2a176f6924c198a7424d0a75dd4b0a5357a5fb9cb739285',
    gender: 'male',
  }),
  piperVoice('es_ES-davefx-medium', {
    size: MEDIUM,
    md5: 'dc515cd4ecc5f6f72fe14a941188fc9c',
    sha256: '6658b03b1a6c316ee4c265a9896abc1393353c2d9e1bca7d66c2c442e222a917',
    gender: 'male',
  }),
  piperVoice('es_ES-carlfm-x_low', {
    size: 28130791,
    md5: '4137b5aee01ea6241080fc4dbe59a8ee',
    sha256: 'd69677323a907cd4963f42b29c20a98b5d6bfa7f3e64df339915e4650c00d125',
    configSha256: 'd9bdfa9ff01eb2bc9e62e7d2593939d1e4c4d8eb7cf75f972731539d12399966',
    configSize: 4159,
    gender: 'male',
  }),
  piperVoice('es_MX-ald-medium', {
    size: MEDIUM,
    md5: '86374058e59b41ac3b7fe4181e1daad6',
    sha256: '019b3803293c93e34a206dd2e53a3889209a514e786fd7144f7b70196c579b63',
    gender: 'male',
  }),
  piperVoice('pt_BR-faber-medium', {
    size: MEDIUM,
    md5: 'e0724a2f07965f6523d2a1e96b488a4c',
    sha256: '858555e3a064209c57088fe6bd70c4c3dc54d03eaa00c45d5ecaf43a33f95aa7',
    configSha256: '7e694de195ae3fc36dd732c445eb04fb49b649854893cb5506b978f0d50a1d6f',
    configSize: 4855,
    gender: 'male',
  }),
  piperVoice('pt_BR-edresson-low', {
    size: LOW,
    md5: '53e365c040dd07890fe1855b64c7cc58',
    sha256: 'de4cecee38b30bb1a6378a337af605d59f0c377df702c6a6752870db8991cd84',
    configSha256: 'f138992d2e777d1e3aa0bbb14c2d324307b0f342c1bcf20978765b3bea506c56',
    configSize: 4168,
    gender: 'male',
  }),
  piperVoice('pt_PT-tugão-medium', {
    size: 63201294,
    sha256: '223a7aaca69a155c61897e8ada7c3b13bc306e16c72dbb9c2fed733e2b0927d4',
    gender: 'male',
  }),
  piperVoice('it_IT-riccardo-x_low', {
    size: 28130791,
    md5: '2c564b67f6bfaf3ad02d28ab528929b8',
    sha256: '1368de15f123275a7ef951c9e5e30be0f58a032daa14a0da44037443c1d1d21b',
    gender: 'male',
  }),
  piperVoice('it_IT-paola-medium', {
    size: 63511038,
    sha256: '6fc918b5a0ea6137382833dddfa567bffbe6a5060c02043c87192ee59c04210c',
    gender: 'female',
  }),
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

/** Published SHA-256 of the voice files that have one (the rest are checked by their exact size). */
const KOKORO_VOICE_SHA256: Readonly<Record<string, string>> = {
  af_aoede: '4a004c33430762e2461eedb2013fad808ef4ab3121f5300f554476caf58d8361',
  af_bella: 'f69d836209b78eb8c66e75e3cda491e26ea838a3674257e9d4e5703cbaf55c8b',
  af_heart: 'd583ccff3cdca2f7fae535cb998ac07e9fcb90f09737b9a41fa2734ec44a8f0b',
  af_kore: '9be5221b6a941c04b561959b8ff0b06e809444dcc4ab7e75a7b23606f691819e',
  af_nicole: 'cd2191ab31b914ed7b318416b0e4440fdf392ddad9106a060819aa600a64f59a',
  af_sarah: '4409fbc125afabacc615d94db5398d847006a737b0247d6892b7a9a0007a2f0a',
  am_fenrir: 'c27989f741f7ee34d273a39d8a595cc0837d35f5ced9a29b7cc162614616df43',
  am_michael: '1d1f21dd8da39c30705cd4c75d039d265e9bc4a2a93ed09bc9e1b1225eb95ba1',
  am_puck: 'fcf73c989033e9233e0b98713eca600c8c74dcc1614b37009d5450ff4a2274a0',
  bf_emma: '669fe0647f9dd04fcab92f1439a40eeb4c8b4ab1f82e4996fe3d918ce4a63b73',
  bm_fable: 'f889083196807b4adb15e9204252165f503b8d33d3982e681c52443c49d798f1',
  bm_george: 'c4b235a4c1f2cd3b939fed08b899ce9385638b763f7b73a59616c4fc9bd6c9bc',
};

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
      ...(KOKORO_VOICE_SHA256[id] === undefined ? {} : { sha256: KOKORO_VOICE_SHA256[id] }),
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
    sha256: '8fbea51ea711f2af382e88c833d9e288c6dc82ce5e98421ea61c058ce21a34cb',
  },
  {
    family: 'kokoro',
    name: 'kokoro-v1.0-q8',
    fileName: 'kokoro-v1.0-q8.onnx',
    url: `${KOKORO_BASE}/onnx/model_quantized.onnx`,
    sizeBytes: 92361116,
    sha256: 'fbae9257e1e05ffc727e951ef9b9c98418e6d79f1c9b6b13bd59f5c9028a1478',
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
