import type { Logger } from 'pino';
import { modelObject, registerModelRoutes } from '../core/http/model-listing.js';
import { createServiceApp } from '../core/http/service-app.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import { ModelCache } from '../core/models/model-cache.js';
import type { Clock } from '../core/runtime/clock.js';
import type { ResourceMonitor } from '../core/runtime/resource-guard.js';
import { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { Settings } from '../core/settings.js';
import { registerJobs } from '../jobs/register-jobs.js';
import { registerAsrRoutes } from './asr-routes.js';
import type { AsrEngine } from './engines/asr-engine.js';
import { createAsrEngine } from './engines/create-asr-engine.js';
import { WHISPER_MODELS } from './model-catalog.js';
import { registerUploads } from './upload.js';

/** OpenAI's model id; it answers with whatever model ASR_MODEL loaded. */
const OPENAI_ASR_MODEL = 'whisper-1';

function registerAsrModelRoutes(app: ServiceApp, runtime: ServiceRuntime<AsrEngine>, cache: ModelCache) {
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
  // /bazarr/models: the origin service's Bazarr model list, for configurations made for it.
  registerModelRoutes(app, {
    listModels,
    requireApiKey: runtime.settings.listingsRequireApiKey,
    listAliases: ['/bazarr/models'],
  });
}

/** The ASR guard rails around whisper.cpp, without HTTP: the service's, and a job worker's. */
export function buildAsrRuntime(
  settings: Settings,
  logger: Logger,
  monitor: ResourceMonitor,
  options: { engine?: AsrEngine; clock?: Clock } = {},
): { runtime: ServiceRuntime<AsrEngine>; cache: ModelCache } {
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
  return { runtime, cache };
}

/** The ASR service: whisper.cpp behind the guard rails, OpenAI and Bazarr routes, and the jobs API. */
export async function buildAsrService(
  settings: Settings,
  logger: Logger,
  monitor: ResourceMonitor,
  options: { engine?: AsrEngine; clock?: Clock } = {},
): Promise<{ app: ServiceApp; runtime: ServiceRuntime<AsrEngine> }> {
  const { runtime, cache } = buildAsrRuntime(settings, logger, monitor, options);
  const app = await createServiceApp(runtime);
  await registerUploads(app, settings.maxUploadSizeMb, settings.asr.uploadDiskReserveMb);
  // The jobs routes first: with ASR_DISPATCH=queue the synchronous routes send their work there.
  const { remote } = registerJobs(app, runtime);
  registerAsrRoutes(app, runtime, remote);
  registerAsrModelRoutes(app, runtime, cache);
  return { app, runtime };
}
