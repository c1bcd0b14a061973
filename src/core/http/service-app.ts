import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { unauthorizedError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import type { LoadableEngine } from '../runtime/engine.js';
import type { ServiceRuntime } from '../runtime/service-runtime.js';
import { frameworkErrorHandler, registerErrorHandling, sendError } from './error-handler.js';
import { registerHealthRoutes } from './health-routes.js';
import { trackInflightReplies } from './inflight-replies.js';
import { registerOpenApi } from './openapi.js';
import { addErrorResponses } from './response-schemas.js';
import type { ServiceApp } from './service-app-type.js';
import {
  clientErrorHandler,
  registerBodyIdleTimeout,
  registerConnectionLimits,
  serverTimeoutOptions,
} from './slow-clients.js';

const REQUEST_ID_HEADER = 'x-request-id';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Browsers cannot set headers on a WebSocket: OpenAI's clients send the key as a subprotocol. */
const WEBSOCKET_KEY_PROTOCOL = 'openai-insecure-api-key.';

function presentedKey(request: FastifyRequest): string {
  const header = request.headers.authorization ?? '';
  if (header.startsWith('Bearer ')) return header.slice(7).trim();
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') return '';
  const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',');
  const offered = protocols.map((p) => p.trim()).find((p) => p.startsWith(WEBSOCKET_KEY_PROTOCOL));
  return offered?.slice(WEBSOCKET_KEY_PROTOCOL.length) ?? '';
}

/** Bearer check in constant time: hashing first makes the lengths equal. */
function registerApiKeyAuth(app: ServiceApp, apiKey: string | undefined): void {
  if (apiKey === undefined) return;
  const expected = digest(apiKey);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.open === true) return;
    if (!timingSafeEqual(digest(presentedKey(request)), expected))
      return sendError(reply, unauthorizedError());
  });
}

/** One log line per request (Fastify's default is two), and the request metrics. */
function registerRequestLogging<E extends LoadableEngine>(app: ServiceApp, runtime: ServiceRuntime<E>): void {
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    runtime.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    runtime.metrics.requestDuration.observe({ route, method: request.method }, seconds);
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
}

/**
 * The Fastify bootstrap both services share: request ids, API key, CORS, the error
 * handler, health and metrics routes. The service adds its own routes after.
 */
export async function createServiceApp<E extends LoadableEngine>(
  runtime: ServiceRuntime<E>,
): Promise<ServiceApp> {
  const { settings } = runtime;
  const app = Fastify({
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
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  registerConnectionLimits(app.server, settings, app.log);
  registerBodyIdleTimeout(app, settings.bodyIdleTimeoutSeconds);
  trackInflightReplies(app);
  // While draining, each response closes its connection: a keep-alive socket left
  // open would hold the server's close until the keep-alive timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (runtime.admission.isDraining) reply.header('connection', 'close');
  });
  registerErrorHandling(app, runtime.metrics, settings.maxUploadSizeMb);
  if (settings.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: settings.corsOrigins.includes('*') ? true : [...settings.corsOrigins],
    });
  }
  registerApiKeyAuth(app, settings.apiKey);
  registerRequestLogging(app, runtime);
  addErrorResponses(app);
  // Before any route, so that every route lands in the generated document.
  await registerOpenApi(app, {
    service: runtime.service,
    version: packageVersion(),
    apiKeyRequired: settings.apiKey !== undefined,
  });
  registerHealthRoutes(app, runtime);
  return app;
}
