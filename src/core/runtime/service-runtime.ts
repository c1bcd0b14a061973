import type { Logger } from 'pino';
import { ServiceMetrics } from '../metrics.js';
import type { ServiceName, ServiceSettings, Settings } from '../settings.js';
import { AdmissionQueue } from './admission-queue.js';
import type { Clock } from './clock.js';
import type { EngineDescription, LoadableEngine } from './engine.js';
import { InferenceGate } from './inference-gate.js';
import { LiveSessions } from './live-sessions.js';
import { ModelSlot } from './model-slot.js';
import { ResourceGuard, type ResourceMonitor } from './resource-guard.js';

export interface ServiceRuntimeOptions<E extends LoadableEngine, S extends ServiceSettings> {
  readonly service: ServiceName;
  readonly settings: Settings;
  /** This service's own section of the settings (`settings.asr` or `settings.tts`). */
  readonly serviceSettings: S;
  readonly engine: E;
  readonly logger: Logger;
  readonly monitor: ResourceMonitor;
  readonly clock?: Clock;
}

/**
 * Everything a service has besides its routes: the guard rails around one engine.
 * Built once per service at start-up and handed to the HTTP layer, a queue worker
 * or a socket server alike.
 */
export class ServiceRuntime<E extends LoadableEngine, S extends ServiceSettings = ServiceSettings> {
  readonly service: ServiceName;
  readonly settings: Settings;
  readonly serviceSettings: S;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly admission: AdmissionQueue;
  readonly guard: ResourceGuard;
  readonly slot: ModelSlot<E>;
  readonly gate: InferenceGate<E>;
  /** Open socket sessions (Realtime and the like), by protocol. */
  readonly liveSessions: LiveSessions;
  private drainAnnounced = false;

  constructor(options: ServiceRuntimeOptions<E, S>) {
    const { service, settings, serviceSettings, engine, monitor, clock } = options;
    this.service = service;
    this.settings = settings;
    this.serviceSettings = serviceSettings;
    this.logger = options.logger;
    this.metrics = new ServiceMetrics(service);
    const metrics = this.metrics;
    this.admission = new AdmissionQueue({
      maxConcurrent: serviceSettings.maxConcurrentRequests,
      maxQueue: serviceSettings.maxQueueSize,
      queueTimeoutMs: settings.queueTimeoutSeconds * 1000,
      ...(clock ? { clock } : {}),
      onChange: (stats) => {
        metrics.activeRequests.set(stats.active);
        metrics.queueDepth.set(stats.queued);
      },
    });
    this.guard = new ResourceGuard(monitor, settings.memoryThresholdPercent, settings.swapThresholdPercent);
    this.slot = new ModelSlot(engine, {
      idleTimeoutMs: serviceSettings.idleTimeoutMinutes * 60_000,
      ...(clock ? { clock } : {}),
      events: this.slotEvents(),
    });
    this.liveSessions = new LiveSessions((protocol, active) =>
      metrics.liveSessions.set({ protocol }, active),
    );
    this.gate = new InferenceGate({
      admission: this.admission,
      guard: this.guard,
      slot: this.slot,
      metrics,
      modelName: () => engine.describe().modelName,
    });
  }

  private slotEvents() {
    const { metrics, logger } = this;
    return {
      onLoaded: (durationMs: number, d: EngineDescription) => {
        metrics.modelLoads.inc({ result: 'success' });
        metrics.modelLoaded.set(1);
        metrics.modelLoadDuration.observe(durationMs / 1000);
        logger.info(
          {
            event: 'model_loaded',
            engine: d.engine,
            model: d.modelName,
            device: d.device,
            ...(d.build === undefined ? {} : { build: d.build }),
            durationMs,
          },
          'model loaded',
        );
      },
      onLoadFailed: (error: unknown) => {
        metrics.modelLoads.inc({ result: 'failure' });
        logger.error({ event: 'model_load_failed', err: error }, 'model load failed');
      },
      onUnloaded: (reason: 'idle' | 'shutdown', d: { engine: string; modelName: string }) => {
        metrics.modelUnloads.inc({ reason });
        metrics.modelLoaded.set(0);
        logger.info(
          { event: 'model_unloaded', reason, engine: d.engine, model: d.modelName },
          'model unloaded',
        );
      },
    };
  }

  /**
   * The drain notice: readiness goes down (load balancers and Kubernetes stop sending
   * new work) while new work is still admitted and served, so a request routed here
   * before they noticed does not fail. Admission stops at `close` or `shedBeyond`.
   */
  announceDrain(): void {
    this.drainAnnounced = true;
  }

  /** From the drain notice on: `/ready` 503 `draining`, responses close their connections. */
  get isDraining(): boolean {
    return this.drainAnnounced || this.admission.isDraining;
  }

  /** Refuses new work, waits for queued and running requests, then unloads the model. */
  async close(): Promise<void> {
    await this.admission.close();
    await this.slot.close();
  }

  /** Fails queued requests now, stops running ones and unloads. */
  async destroy(): Promise<void> {
    await this.admission.destroy();
    this.gate.abortAll();
    await this.slot.close();
  }
}
