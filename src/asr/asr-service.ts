import type { Logger } from 'pino';
import { Type } from 'typebox';
import { notFoundError } from '../core/errors.js';
import { registerAudioModelListing } from '../core/http/model-listing.js';
import { createServiceApp } from '../core/http/service-app.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import { ModelCache } from '../core/models/model-cache.js';
import type { Clock } from '../core/runtime/clock.js';
import type { ResourceMonitor } from '../core/runtime/resource-guard.js';
import { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { Settings } from '../core/settings.js';
import { registerAsrRoutes } from './asr-routes.js';
import type { AsrEngine } from './engines/asr-engine.js';
import { createAsrEngine } from './engines/create-asr-engine.js';
import { WHISPER_MODELS } from './model-catalog.js';
import { registerUploads } from './upload.js';

/** OpenAI's model id; it answers with whatever model ASR_MODEL loaded. */
const OPENAI_ASR_MODEL = 'whisper-1';

function registerModelRoutes(app: ServiceApp, runtime: ServiceRuntime<AsrEngine>, cache: ModelCache) {
  const describeAll = async () => {
    const status = runtime.slot.status();
    const current = status.description.modelName;
    const models = await Promise.all(
      WHISPER_MODELS.map(async (entry) => ({
        id: entry.name,
        object: 'model',
        created: 0,
        owned_by: 'voice-stack',
        size_bytes: entry.sizeBytes,
        cached: await cache.isCached(entry),
        loaded: status.loaded && entry.name === current,
      })),
    );
    const alias = {
      id: OPENAI_ASR_MODEL,
      object: 'model',
      created: 0,
      owned_by: 'voice-stack',
      cached: true,
      loaded: status.loaded,
      alias_of: current,
    };
    const configured = models.some((m) => m.id === current)
      ? []
      : [
          {
            id: current,
            object: 'model',
            created: 0,
            owned_by: 'voice-stack',
            cached: true,
            loaded: status.loaded,
          },
        ];
    return [alias, ...configured, ...models];
  };
  app.get('/v1/models', async () => ({ object: 'list', data: await describeAll() }));
  // The origin service's Bazarr model list, for configurations made for it.
  app.get('/bazarr/models', async () => ({ object: 'list', data: await describeAll() }));
  registerAudioModelListing(app, describeAll, runtime.settings.listingsRequireApiKey);
  app.get('/v1/models/:id', { schema: { params: Type.Object({ id: Type.String() }) } }, async (request) => {
    const model = (await describeAll()).find((m) => m.id === request.params.id);
    if (model === undefined) throw notFoundError(`model '${request.params.id}'`);
    return model;
  });
}

/** The ASR service: whisper.cpp behind the guard rails, OpenAI and Bazarr routes. */
export async function buildAsrService(
  settings: Settings,
  logger: Logger,
  monitor: ResourceMonitor,
  options: { engine?: AsrEngine; clock?: Clock } = {},
): Promise<{ app: ServiceApp; runtime: ServiceRuntime<AsrEngine> }> {
  const serviceLogger = logger.child({ service: 'asr' });
  const cache = new ModelCache(settings.modelCacheDir);
  const engine = options.engine ?? createAsrEngine(settings.asr, cache, serviceLogger);
  const runtime = new ServiceRuntime<AsrEngine>(
    'asr',
    settings,
    settings.asr,
    engine,
    serviceLogger,
    monitor,
    options.clock,
  );
  const app = await createServiceApp(runtime);
  await registerUploads(app, settings.maxUploadSizeMb, settings.asr.uploadDiskReserveMb);
  registerAsrRoutes(app, runtime);
  registerModelRoutes(app, runtime, cache);
  return { app, runtime };
}
