/**
 * The `info` answer to `describe`: what Home Assistant reads to name the service, list
 * its languages and voices, and decide whether to stream. Field names follow the
 * protocol's `AsrProgram` / `TtsProgram` (docs/API.md, "Wyoming").
 */
import type { AsrEngine } from '../asr/engines/asr-engine.js';
import { WHISPER_LANGUAGES } from '../asr/languages.js';
import { packageVersion } from '../core/package-version.js';
import type { TtsEngine, VoiceInfo } from '../tts/engines/tts-engine.js';
import { type WyomingEvent, wyomingEvent } from './wyoming-event.js';

const PROGRAM = 'voice-stack';
/** The project has no home page to point at; the engines' attributions carry the links. */
const VOICE_STACK = { name: 'Voice Stack', url: '' };

const ENGINE_ATTRIBUTION: Readonly<Record<string, { name: string; url: string }>> = {
  'whisper-cpp': { name: 'OpenAI Whisper on whisper.cpp', url: 'https://github.com/ggml-org/whisper.cpp' },
  'espeak-ng': { name: 'eSpeak NG', url: 'https://github.com/espeak-ng/espeak-ng' },
  piper: { name: 'Piper', url: 'https://github.com/rhasspy/piper' },
  kokoro: { name: 'Kokoro', url: 'https://huggingface.co/hexgrad/Kokoro-82M' },
};

function attribution(engine: string) {
  return ENGINE_ATTRIBUTION[engine] ?? { name: engine, url: VOICE_STACK.url };
}

/** Every other domain empty, as the reference library writes an `Info`. */
function info(parts: { asr?: unknown[]; tts?: unknown[] }): WyomingEvent {
  return wyomingEvent('info', {
    asr: parts.asr ?? [],
    tts: parts.tts ?? [],
    handle: [],
    intent: [],
    wake: [],
    mic: [],
    snd: [],
  });
}

/** An English-only model (`base.en`) says so; the others take all of Whisper's languages. */
function modelLanguages(modelName: string): string[] {
  return /\.en(\b|-|$)/.test(modelName) ? ['en'] : Object.keys(WHISPER_LANGUAGES);
}

export function asrInfo(engine: AsrEngine): WyomingEvent {
  const { engine: engineName, modelName } = engine.describe();
  const version = packageVersion();
  return info({
    asr: [
      {
        name: PROGRAM,
        description: `Voice Stack speech-to-text (${engineName})`,
        attribution: { name: VOICE_STACK.name, url: VOICE_STACK.url },
        installed: true,
        version,
        models: [
          {
            name: modelName,
            description: `Whisper ${modelName}`,
            attribution: attribution(engineName),
            installed: true,
            version: null,
            languages: modelLanguages(modelName),
          },
        ],
        supports_transcript_streaming: true,
        // No end-of-speech detection here: the client (Home Assistant's VAD) ends the stream.
        requires_external_vad: true,
      },
    ],
  });
}

/** `en-us` → `en_US`, the form Piper's Wyoming server (the one Home Assistant knows best) reports. */
export function wyomingLanguage(tag: string): string {
  const [language = '', region, ...rest] = tag.replaceAll('_', '-').split('-');
  if (region === undefined || region.length !== 2 || rest.length > 0) return tag.toLowerCase();
  return `${language.toLowerCase()}_${region.toUpperCase()}`;
}

function voiceEntry(voice: VoiceInfo, engineName: string, version: string) {
  return {
    name: voice.id,
    description: voice.name,
    attribution: attribution(engineName),
    installed: voice.cached,
    version,
    languages: [wyomingLanguage(voice.language)],
  };
}

export async function ttsInfo(engine: TtsEngine): Promise<WyomingEvent> {
  const engineName = engine.describe().engine;
  const version = packageVersion();
  const voices = await engine.voices.list();
  return info({
    tts: [
      {
        name: PROGRAM,
        description: `Voice Stack text-to-speech (${engineName})`,
        attribution: { name: VOICE_STACK.name, url: VOICE_STACK.url },
        installed: true,
        version,
        voices: voices.map((voice) => voiceEntry(voice, engineName, version)),
        supports_synthesize_streaming: true,
      },
    ],
  });
}
