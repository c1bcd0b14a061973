/**
 * The OpenAPI document (`/openapi.json`) and its interactive page (`/docs`),
 * generated from the schemas the routes validate with, so the two cannot drift.
 * It must be registered before the routes: @fastify/swagger collects them as they
 * are added.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ServiceName } from '../settings.js';
import type { ServiceApp } from './service-app-type.js';

export interface OpenApiInfo {
  readonly service: ServiceName;
  readonly version: string;
  /** API_KEY is set: the document declares the Bearer scheme for the protected routes. */
  readonly apiKeyRequired: boolean;
}

const DESCRIPTIONS: Record<ServiceName, string> = {
  asr: 'Speech to text with whisper.cpp: OpenAI-compatible transcriptions and translations, and the /asr API Bazarr speaks.',
  tts: 'Text to speech: the OpenAI-compatible /v1/audio/speech API and the voice list.',
};

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = '/openapi.json';

export async function registerOpenApi(app: ServiceApp, info: OpenApiInfo): Promise<void> {
  markOpenRoutes(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: `Voice Stack ${info.service.toUpperCase()}`,
        version: info.version,
        description: DESCRIPTIONS[info.service],
      },
      components: info.apiKeyRequired
        ? { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API_KEY' } } }
        : {},
      security: info.apiKeyRequired ? [{ bearerAuth: [] }] : [],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true },
  });
  // Not open: with API_KEY set the document and the page need the key too (DESIGN §2:
  // every route but health), as the route list is itself worth keeping private.
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
}

/** Routes open anyway, like /health, are documented as needing no key. */
function markOpenRoutes(app: ServiceApp): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.open === true && route.schema?.hide !== true) {
      route.schema = { ...route.schema, security: [] };
    }
  });
}
