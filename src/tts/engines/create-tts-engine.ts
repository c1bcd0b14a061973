import { DEFAULT_MODEL_CACHE_DIR } from '../../core/models/cache-dir.js';
import type { TtsSettings } from '../../core/settings.js';
import { onnxEngineOptions } from '../onnx/onnx-engine-options.js';
import { EspeakNgEngine } from './espeak-ng.js';
import { KokoroEngine } from './kokoro.js';
import { PiperEngine } from './piper.js';
import type { TtsEngine } from './tts-engine.js';

/** The engine TTS_ENGINE names; the neural ones find their voices in `modelCacheDir`. */
export function createTtsEngine(settings: TtsSettings, modelCacheDir = DEFAULT_MODEL_CACHE_DIR): TtsEngine {
  switch (settings.engine) {
    case 'espeak-ng':
      return new EspeakNgEngine({ defaultVoice: settings.voice });
    case 'piper':
      return new PiperEngine(onnxEngineOptions(settings, modelCacheDir));
    case 'kokoro':
      return new KokoroEngine(onnxEngineOptions(settings, modelCacheDir));
  }
}
