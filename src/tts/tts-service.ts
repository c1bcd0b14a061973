import { defineService } from '../core/http/define-service.js';
import {
  audioModelListing,
  type ModelListing,
  modelObject,
  modelRoutes,
} from '../core/http/model-listing.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { TtsSettings } from '../core/settings.js';
import { registerLivePage } from '../web/live-page.js';
import { createTtsEngine } from './engines/create-tts-engine.js';
import type { TtsEngine } from './engines/tts-engine.js';
import { registerSpeechRoutes, registerVoiceListing, ttsModelIds } from './tts-routes.js';

function ttsModelListing(runtime: ServiceRuntime<TtsEngine, TtsSettings>): ModelListing {
  const engine = runtime.slot.engine;
  return { listModels: async () => ttsModelIds(engine.describe().engine).map((id) => modelObject(id)) };
}

/** The TTS service: its engine, guard rails and the OpenAI-compatible speech routes. */
export const ttsService = defineService<TtsEngine, TtsSettings>({
  name: 'tts',
  settings: (settings) => settings.tts,
  createEngine: ({ settings, serviceSettings }) => createTtsEngine(serviceSettings, settings.modelCacheDir),
  async routes(app, runtime) {
    registerSpeechRoutes(app, runtime);
    await app.register(modelRoutes, ttsModelListing(runtime));
  },
  publicRoutes(app, runtime) {
    registerLivePage(app, 'tts', runtime.settings.apiKey !== undefined);
  },
  async listings(app, runtime) {
    registerVoiceListing(app, runtime);
    await app.register(audioModelListing, ttsModelListing(runtime));
  },
});
