import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { ServiceMetrics } from '../metrics.js';
import type { LoadableEngine } from '../runtime/engine.js';
import type { ServiceRuntime } from '../runtime/service-runtime.js';
import type { ServiceSettings } from '../settings.js';
import { apiKeyAuth } from './api-key-auth.js';
import { errorHandling, frameworkErrorHandler } from './error-handler.js';
import { healthRoutes, metricsRoute } from './health-routes.js';
import { inflightReplies } from './inflight-replies.js';
import { namedPlugin } from './named-plugin.js';
import { openApiDocument, openApiRoutes, publicInOpenApi } from './openapi.js';
import { errorResponses } from './response-schemas.js';
import type { ServiceApp } from './service-app-type.js';
import { clientErrorHandler, serverTimeoutOptions, slowClientGuards } from './slow-clients.js';

const REQUEST_ID_HEADER = 'x-request-id';

/** Adds a service's routes to the context it is given (public or behind the API key). */
export type RouteRegistrar<E extends LoadableEngine, S extends ServiceSettings> = (
  app: ServiceApp,
  runtime: ServiceRuntime<E, S>,
) => void | Promise<void>;

export interface ServiceRoutes<E extends LoadableEngine, S extends ServiceSettings> {
  /** Behind API_KEY when one is set. */
  readonly routes: RouteRegistrar<E, S>;
  /** Model and voice lists: open unless LISTINGS_REQUIRE_API_KEY=true. */
  readonly listings?: RouteRegistrar<E, S>;
  /** Always open: the try-it page holds nothing secret (it asks for the key itself). */
  readonly publicRoutes?: RouteRegistrar<E, S>;
}

/** Echoes the request id, and closes each connection once the service drains. */
const requestIds = namedPlugin('request-ids', (app, options: { isDraining: () => boolean }) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  // From the drain notice on, each response closes its connection: a keep-alive socket
  // left open would hold the server's close until the keep-alive timeout, and the
  // client's next request opens a new connection that its balancer sends elsewhere.
  app.addHook('onSend', async (_request, reply) => {
    if (options.isDraining()) reply.header('connection', 'close');
  });
});

/** One log line per request (Fastify's default is two), and the request metrics. */
const requestLogging = namedPlugin('request-logging', (app, options: { metrics: ServiceMetrics }) => {
  const { metrics } = options;
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route, method: request.method }, seconds);
    const level =
      route.startsWith('/health') || route === '/metrics' || route === '/ready' ? 'debug' : 'info';
    request.log[level](
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  });
});

function createFastify<E extends LoadableEngine, S extends ServiceSettings>(runtime: ServiceRuntime<E, S>) {
  const { settings } = runtime;
  return Fastify({
    loggerInstance: runtime.logger as FastifyBaseLogger,
    // Our onResponse hook logs the one line per request; the top-level
    // disableRequestLogging option is deprecated (FSTDEP023).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: Math.floor(settings.maxUploadSizeMb * 1024 * 1024),
    requestIdHeader: REQUEST_ID_HEADER,
    genReqId: () => randomUUID(),
    forceCloseConnections: 'idle',
    ...serverTimeoutOptions(settings),
    clientErrorHandler,
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler(settings.maxUploadSizeMb),
    // strictNumbers: NaN and ±Infinity (JSON's 1e400, a coerced "Infinity") are not numbers
    // to any route, so no range check below ever sees one.
    ajv: {
      customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false, strictNumbers: true },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
}

/**
 * The Fastify bootstrap both services share. Root-level plugins apply to every route
 * (request ids, slow-client limits, errors, CORS, logging, the OpenAPI collector);
 * then two encapsulated contexts: the public one (health, readiness, and metrics and
 * listings when the settings leave them open) and the protected one, which registers
 * the API-key check and everything else.
 */
export async function createServiceApp<E extends LoadableEngine, S extends ServiceSettings>(
  runtime: ServiceRuntime<E, S>,
  service: ServiceRoutes<E, S>,
): Promise<ServiceApp> {
  const { settings, metrics } = runtime;
  const app = createFastify(runtime);
  await app.register(requestIds, { isDraining: () => runtime.isDraining });
  await app.register(slowClientGuards, { settings });
  await app.register(inflightReplies);
  await app.register(errorHandling, { metrics, maxUploadMb: settings.maxUploadSizeMb });
  if (settings.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: settings.corsOrigins.includes('*') ? true : [...settings.corsOrigins],
    });
  }
  await app.register(requestLogging, { metrics });
  // Both read each route's schema as it is added, so they come before any route.
  await app.register(errorResponses);
  await app.register(openApiDocument, {
    service: runtime.service,
    apiKeyRequired: settings.apiKey !== undefined,
  });
  const listings = service.listings;
  await app.register(async function publicRoutes(open: ServiceApp) {
    await open.register(publicInOpenApi);
    await open.register(healthRoutes, { runtime });
    if (!settings.metricsRequireApiKey) await open.register(metricsRoute, { metrics });
    if (listings && !settings.listingsRequireApiKey) await listings(open, runtime);
    if (service.publicRoutes) await service.publicRoutes(open, runtime);
  });
  await app.register(async function protectedRoutes(api: ServiceApp) {
    if (settings.apiKey !== undefined) await api.register(apiKeyAuth, { apiKey: settings.apiKey });
    // With API_KEY set the document and its page need the key too (docs/API.md: every
    // route but health), as the route list is itself worth keeping private.
    await api.register(openApiRoutes);
    if (settings.metricsRequireApiKey) await api.register(metricsRoute, { metrics });
    if (listings && settings.listingsRequireApiKey) await listings(api, runtime);
    await service.routes(api, runtime);
  });
  return app;
}
