import { type TProperties, Type } from 'typebox';
import type { ServiceMetrics } from '../metrics.js';
import type { LoadableEngine } from '../runtime/engine.js';
import type { ServiceRuntime } from '../runtime/service-runtime.js';
import { namedPlugin } from './named-plugin.js';
import { textOrBinary } from './response-schemas.js';
import type { ServiceApp } from './service-app-type.js';

const HealthBody = Type.Object({ status: Type.Literal('ok') });
const ReadyBody = Type.Object({ status: Type.Literal('ready') });
const NotReadyBody = Type.Object({
  status: Type.Literal('not_ready'),
  reason: Type.String({ description: 'draining, model loading, or queue full' }),
});
// Open objects: the body grows with the service (live sessions, jobs); none of it may be dropped.
const Open = (properties: TProperties) => Type.Object(properties, { additionalProperties: true });
const DetailedHealthBody = Open({
  status: Type.Union([Type.Literal('ok'), Type.Literal('overloaded'), Type.Literal('draining')]),
  service: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
  memory: Open({
    percent: Type.Number(),
    available_mb: Type.Number(),
    total_mb: Type.Number(),
    threshold_percent: Type.Number(),
    cgroup_limited: Type.Boolean(),
  }),
  swap: Open({
    percent: Type.Number(),
    used_mb: Type.Number(),
    total_mb: Type.Number(),
    threshold_percent: Type.Number(),
  }),
  model: Open({
    loaded: Type.Boolean(),
    loading: Type.Boolean(),
    engine: Type.String(),
    model_name: Type.String(),
    device: Type.String(),
    /** Which native build runs the model, once loaded (whisper.cpp: 1.8.3 prebuilt, bundled, …). */
    build: Type.Optional(Type.String()),
    last_used: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }),
  concurrency: Open({
    active_requests: Type.Integer(),
    max_concurrent: Type.Integer(),
    available_slots: Type.Integer(),
    queued: Type.Integer(),
    max_queue: Type.Integer(),
  }),
  config: Open({
    idle_timeout_minutes: Type.Number(),
    max_upload_mb: Type.Number(),
    queue_timeout_seconds: Type.Number(),
  }),
  live_sessions: Type.Record(Type.String(), Type.Object({ active: Type.Integer(), max: Type.Integer() }), {
    description: 'Open socket sessions by protocol (realtime: the Realtime WebSocket), and their bound',
  }),
});

export type HealthStatus = 'ok' | 'overloaded' | 'draining';

/** The `/health/detailed` body, as docs/API.md lists it, field for field. */
export function detailedHealth<E extends LoadableEngine>(runtime: ServiceRuntime<E>) {
  const { memory, swap } = runtime.guard.monitor.read();
  const admission = runtime.admission.stats();
  const model = runtime.slot.status();
  return {
    status: healthStatus(runtime),
    service: runtime.service,
    timestamp: new Date().toISOString(),
    memory: {
      percent: memory.percent,
      available_mb: memory.availableMb,
      total_mb: memory.totalMb,
      threshold_percent: runtime.settings.memoryThresholdPercent,
      cgroup_limited: memory.cgroupLimited,
    },
    swap: {
      percent: swap.percent,
      used_mb: swap.usedMb,
      total_mb: swap.totalMb,
      threshold_percent: runtime.settings.swapThresholdPercent,
    },
    model: {
      loaded: model.loaded,
      loading: model.loading,
      engine: model.description.engine,
      model_name: model.description.modelName,
      device: model.description.device,
      ...(model.description.build === undefined ? {} : { build: model.description.build }),
      last_used: model.lastUsed?.toISOString() ?? null,
    },
    concurrency: {
      active_requests: admission.active,
      max_concurrent: admission.maxConcurrent,
      available_slots: Math.max(0, admission.maxConcurrent - admission.active),
      queued: admission.queued,
      max_queue: admission.maxQueue,
    },
    config: {
      idle_timeout_minutes: runtime.serviceSettings.idleTimeoutMinutes,
      max_upload_mb: runtime.settings.maxUploadSizeMb,
      queue_timeout_seconds: runtime.settings.queueTimeoutSeconds,
    },
    live_sessions: runtime.liveSessions.snapshot(),
  };
}

function healthStatus<E extends LoadableEngine>(runtime: ServiceRuntime<E>): HealthStatus {
  if (runtime.isDraining) return 'draining';
  if (runtime.admission.isFull || !runtime.guard.check().ok) return 'overloaded';
  return 'ok';
}

/** Why the service should not get traffic now, or undefined when it is ready. */
function notReadyReason<E extends LoadableEngine>(runtime: ServiceRuntime<E>): string | undefined {
  const model = runtime.slot.status();
  if (runtime.isDraining) return 'draining';
  if (model.loading && !model.everLoaded) return 'model loading';
  if (runtime.admission.isFull) return 'queue full';
  return undefined;
}

/** Liveness and readiness: cheap, never touch the model, never refused by the guards. */
export const healthRoutes = namedPlugin(
  'health-routes',
  <E extends LoadableEngine>(app: ServiceApp, { runtime }: { runtime: ServiceRuntime<E> }) => {
    for (const url of ['/health', '/healthz', '/healthcheck']) {
      app.get(url, { schema: { response: { 200: HealthBody } } }, async () => ({ status: 'ok' as const }));
    }
    app.get('/health/detailed', { schema: { response: { 200: DetailedHealthBody } } }, async () =>
      detailedHealth(runtime),
    );
    const readySchema = { response: { 200: ReadyBody, 503: NotReadyBody } };
    app.get('/ready', { schema: readySchema }, async (_request, reply) => {
      const reason = notReadyReason(runtime);
      if (reason !== undefined) return reply.code(503).send({ status: 'not_ready', reason });
      return { status: 'ready' as const };
    });
  },
);

/** Prometheus metrics; public or behind the key as METRICS_REQUIRE_API_KEY says. */
export const metricsRoute = namedPlugin('metrics-route', (app, { metrics }: { metrics: ServiceMetrics }) => {
  const schema = { response: { 200: textOrBinary('Prometheus metrics', ['text/plain']) } };
  app.get('/metrics', { schema }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
});
