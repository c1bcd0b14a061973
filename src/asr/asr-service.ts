import { defineService } from '../core/http/define-service.js';
import {
  audioModelListing,
  type ModelListing,
  modelObject,
  modelRoutes,
} from '../core/http/model-listing.js';
import { ModelCache } from '../core/models/model-cache.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { AsrSettings } from '../core/settings.js';
import { registerJobs } from '../jobs/register-jobs.js';
import { registerLivePage } from '../web/live-page.js';
import { registerAsrRoutes } from './asr-routes.js';
import type { AsrEngine } from './engines/asr-engine.js';
import { createAsrEngine } from './engines/create-asr-engine.js';
import { WHISPER_MODELS } from './model-catalog.js';
import { registerRealtimeRoutes } from './realtime/realtime-routes.js';
import { registerUploads } from './upload.js';

/** OpenAI's model id; it answers with whatever model ASR_MODEL loaded. */
const OPENAI_ASR_MODEL = 'whisper-1';

/** The catalogue with what is cached and loaded, after the OpenAI alias and any configured path. */
function asrModelListing(runtime: ServiceRuntime<AsrEngine, AsrSettings>): ModelListing {
  const cache = new ModelCache(runtime.settings.modelCacheDir);
  const listModels = async () => {
    const status = runtime.slot.status();
    const current = status.description.modelName;
    const models = await Promise.all(
      WHISPER_MODELS.map(async (entry) =>
        modelObject(entry.name, {
          size_bytes: entry.sizeBytes,
          cached: await cache.isCached(entry),
          loaded: status.loaded && entry.name === current,
        }),
      ),
    );
    const alias = modelObject(OPENAI_ASR_MODEL, { cached: true, loaded: status.loaded, alias_of: current });
    const configured = models.some((m) => m.id === current)
      ? []
      : [modelObject(current, { cached: true, loaded: status.loaded })];
    return [alias, ...configured, ...models];
  };
  // /bazarr/models: the model list whisper-asr-webservice serves under /bazarr, for Bazarr configurations made for it.
  return { listModels, listAliases: ['/bazarr/models'] };
}

/** The ASR service: whisper.cpp behind the guard rails, OpenAI and Bazarr routes, realtime and the jobs API. */
export const asrService = defineService<AsrEngine, AsrSettings>({
  name: 'asr',
  settings: (settings) => settings.asr,
  createEngine: ({ settings, serviceSettings, logger }) =>
    createAsrEngine(serviceSettings, new ModelCache(settings.modelCacheDir), logger),
  async routes(app, runtime) {
    const { settings } = runtime;
    await registerUploads(app, settings.maxUploadSizeMb, runtime.serviceSettings.uploadDiskReserveMb);
    // The jobs routes first: with ASR_DISPATCH=queue the synchronous routes send their work there.
    const { remote } = registerJobs(app, runtime);
    registerAsrRoutes(app, runtime, remote);
    await registerRealtimeRoutes(app, runtime);
    await app.register(modelRoutes, asrModelListing(runtime));
  },
  publicRoutes(app, runtime) {
    registerLivePage(app, 'asr', runtime.settings.apiKey !== undefined);
  },
  async listings(app, runtime) {
    await app.register(audioModelListing, asrModelListing(runtime));
  },
});
