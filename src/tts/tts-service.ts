import type { Logger } from 'pino';
import { createServiceApp } from '../core/http/service-app.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import type { Clock } from '../core/runtime/clock.js';
import type { ResourceMonitor } from '../core/runtime/resource-guard.js';
import { ServiceRuntime } from '../core/runtime/service-runtime.js';
import type { Settings } from '../core/settings.js';
import { registerLivePage } from '../web/live-page.js';
import { createTtsEngine } from './engines/create-tts-engine.js';
import type { TtsEngine } from './engines/tts-engine.js';
import { registerTtsRoutes } from './tts-routes.js';

/** The TTS service: its engine, guard rails and routes, ready to listen. */
export async function buildTtsService(
  settings: Settings,
  logger: Logger,
  monitor: ResourceMonitor,
  options: { engine?: TtsEngine; clock?: Clock } = {},
): Promise<{ app: ServiceApp; runtime: ServiceRuntime<TtsEngine> }> {
  const engine = options.engine ?? createTtsEngine(settings.tts, settings.modelCacheDir);
  const runtime = new ServiceRuntime<TtsEngine>(
    'tts',
    settings,
    settings.tts,
    engine,
    logger.child({ service: 'tts' }),
    monitor,
    options.clock,
  );
  const app = await createServiceApp(runtime);
  registerTtsRoutes(app, runtime, settings.tts);
  registerLivePage(app, 'tts', settings.apiKey !== undefined);
  return { app, runtime };
}
