/**
 * OpenAI's voice names on our engines. Clients (Home Assistant defaults to `marin`, the
 * load-test guide's script sends `default`) name OpenAI voices; each engine gets a table
 * that puts them on distinct voices of its own where it has several, so a user who picks
 * `onyx` or `nova` hears a difference.
 */

/** Every voice name OpenAI's speech API accepts today. */
export const OPENAI_VOICES = [
  'alloy',
  'ash',
  'ballad',
  'coral',
  'echo',
  'fable',
  'onyx',
  'nova',
  'sage',
  'shimmer',
  'verse',
  'marin',
  'cedar',
] as const;
export type OpenAiVoice = (typeof OPENAI_VOICES)[number];

/** `default` means the configured TTS_VOICE on every engine. */
export const DEFAULT_VOICE_NAME = 'default';

/** espeak-ng variants (`<voice>+<variant>`), matched to each OpenAI voice's register. */
const ESPEAK_VARIANTS: Record<OpenAiVoice, string> = {
  alloy: 'f2',
  ash: 'm3',
  ballad: 'm7',
  coral: 'f4',
  echo: 'm2',
  fable: 'm5',
  onyx: 'm6',
  nova: 'f3',
  sage: 'f5',
  shimmer: 'f1',
  verse: 'm4',
  marin: 'linda',
  cedar: 'm1',
};

/** Kokoro ships voices named after several OpenAI ones; the rest take a voice of the same register. */
const KOKORO_VOICES: Record<OpenAiVoice, string> = {
  alloy: 'af_alloy',
  ash: 'am_adam',
  ballad: 'bm_george',
  coral: 'af_bella',
  echo: 'am_echo',
  fable: 'bm_fable',
  onyx: 'am_onyx',
  nova: 'af_nova',
  sage: 'af_sarah',
  shimmer: 'af_sky',
  verse: 'am_michael',
  marin: 'af_heart',
  cedar: 'am_puck',
};

export function isOpenAiVoice(name: string): name is OpenAiVoice {
  return (OPENAI_VOICES as readonly string[]).includes(name);
}

/**
 * The engine voice an OpenAI name stands for. espeak-ng keeps the configured voice's
 * language and changes its variant; Kokoro picks its own voice of that name's register;
 * a Piper voice file speaks with one voice, so every name is the configured one.
 */
export function engineVoiceFor(engine: string, name: OpenAiVoice, defaultVoice: string): string {
  switch (engine) {
    case 'espeak-ng':
      return `${defaultVoice.split('+')[0]}+${ESPEAK_VARIANTS[name]}`;
    case 'kokoro':
      return KOKORO_VOICES[name];
    default:
      return defaultVoice;
  }
}
