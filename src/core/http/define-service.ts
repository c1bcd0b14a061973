import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.js';
import type { LoadableEngine } from '../runtime/engine.js';
import type { ResourceMonitor } from '../runtime/resource-guard.js';
import { ServiceRuntime } from '../runtime/service-runtime.js';
import type { ServiceName, ServiceSettings, Settings } from '../settings.js';
import { createServiceApp, type ServiceRoutes } from './service-app.js';
import type { ServiceApp } from './service-app-type.js';

export interface EngineContext<S extends ServiceSettings> {
  readonly settings: Settings;
  readonly serviceSettings: S;
  /** Already bound to the service (`service: 'asr'`): engines log through it. */
  readonly logger: Logger;
}

export interface ServiceDefinition<E extends LoadableEngine, S extends ServiceSettings>
  extends ServiceRoutes<E, S> {
  readonly name: ServiceName;
  /** The service's own section of the settings. */
  readonly settings: (settings: Settings) => S;
  readonly createEngine: (context: EngineContext<S>) => E;
}

export interface BuildOptions<E extends LoadableEngine> {
  /** Tests of the layers above the engine hand one in; the service builds its own. */
  readonly engine?: E;
  readonly clock?: Clock;
}

export interface BuiltService<E extends LoadableEngine, S extends ServiceSettings> {
  readonly app: ServiceApp;
  readonly runtime: ServiceRuntime<E, S>;
  /** The port the settings give this service. */
  readonly port: number;
}

export interface Service<E extends LoadableEngine, S extends ServiceSettings> {
  readonly name: ServiceName;
  /** Its engine inside the guard rails, without HTTP: what a queue worker runs. */
  createRuntime(
    settings: Settings,
    logger: Logger,
    monitor: ResourceMonitor,
    options?: BuildOptions<E>,
  ): ServiceRuntime<E, S>;
  /** Its engine, its guard rails and its routes, ready to listen. */
  build(
    settings: Settings,
    logger: Logger,
    monitor: ResourceMonitor,
    options?: BuildOptions<E>,
  ): Promise<BuiltService<E, S>>;
}

/** One service of the stack: what is particular to it, built the same way as the others. */
export function defineService<E extends LoadableEngine, S extends ServiceSettings>(
  definition: ServiceDefinition<E, S>,
): Service<E, S> {
  const createRuntime: Service<E, S>['createRuntime'] = (settings, logger, monitor, options = {}) => {
    const serviceSettings = definition.settings(settings);
    const serviceLogger = logger.child({ service: definition.name });
    const engine =
      options.engine ?? definition.createEngine({ settings, serviceSettings, logger: serviceLogger });
    return new ServiceRuntime<E, S>({
      service: definition.name,
      settings,
      serviceSettings,
      engine,
      logger: serviceLogger,
      monitor,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  };
  return {
    name: definition.name,
    createRuntime,
    async build(settings, logger, monitor, options = {}) {
      const runtime = createRuntime(settings, logger, monitor, options);
      const app = await createServiceApp(runtime, definition);
      return { app, runtime, port: runtime.serviceSettings.port };
    },
  };
}
