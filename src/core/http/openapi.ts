/**
 * The OpenAPI document (`/openapi.json`) and its interactive page (`/docs`),
 * generated from the schemas the routes validate with, so the two cannot drift.
 * The collector must be registered before the routes: @fastify/swagger reads them
 * as they are added.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { packageVersion } from '../package-version.js';
import type { ServiceName } from '../settings.js';
import { namedPlugin } from './named-plugin.js';

export interface OpenApiInfo {
  readonly service: ServiceName;
  /** API_KEY is set: the document declares the Bearer scheme for the protected routes. */
  readonly apiKeyRequired: boolean;
}

const DESCRIPTIONS: Record<ServiceName, string> = {
  asr: 'Speech to text with whisper.cpp: OpenAI-compatible transcriptions and translations, and the /asr API Bazarr speaks.',
  tts: 'Text to speech: the OpenAI-compatible /v1/audio/speech API and the voice list.',
};

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = '/openapi.json';

/** Collects every route registered after it, in any context, into one document. */
export const openApiDocument = namedPlugin('openapi-document', async (app, info: OpenApiInfo) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: `Voice Stack ${info.service.toUpperCase()}`,
        version: packageVersion(),
        description: DESCRIPTIONS[info.service],
      },
      components: info.apiKeyRequired
        ? { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API_KEY' } } }
        : {},
      security: info.apiKeyRequired ? [{ bearerAuth: [] }] : [],
    },
  });
});

/** `/openapi.json` and the `/docs` page, in whichever context registers them. */
export const openApiRoutes = namedPlugin('openapi-routes', async (app) => {
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true },
  });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
});

/** The routes of the registering context are documented as needing no key. */
export const publicInOpenApi = namedPlugin('public-in-openapi', (app) => {
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide !== true) route.schema = { ...route.schema, security: [] };
  });
});
