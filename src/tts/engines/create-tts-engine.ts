import type { TtsSettings } from '../../core/settings.js';
import { EspeakNgEngine } from './espeak-ng.js';
import type { TtsEngine } from './tts-engine.js';

/** The engine TTS_ENGINE names. */
export function createTtsEngine(settings: TtsSettings): TtsEngine {
  switch (settings.engine) {
    case 'espeak-ng':
      return new EspeakNgEngine({ defaultVoice: settings.voice });
    case 'piper':
    case 'kokoro':
      throw new Error(`TTS_ENGINE=${settings.engine} is not available in this version; use espeak-ng`);
  }
}
