import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { pino } from 'pino';
import { registerHealthRoutes } from '../../src/core/http/health-routes.js';
import { registerOpenApi } from '../../src/core/http/openapi.js';
import type { ServiceApp } from '../../src/core/http/service-app-type.js';
import { ResourceMonitor } from '../../src/core/runtime/resource-guard.js';
import { ServiceRuntime } from '../../src/core/runtime/service-runtime.js';
import { parseSettings } from '../../src/core/settings.js';
import { createTtsEngine } from '../../src/tts/engines/create-tts-engine.js';
import type { TtsEngine } from '../../src/tts/engines/tts-engine.js';
import { registerTtsRoutes } from '../../src/tts/tts-routes.js';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { securitySchemes?: Record<string, unknown> };
  security?: unknown[];
}

interface OpenApiOperation {
  security?: unknown[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, { enum?: string[] }> } }> };
}

/** The TTS routes on a bare app with the plugin first, as createServiceApp registers them. */
async function ttsAppWithDocs(apiKeyRequired: boolean): Promise<ServiceApp> {
  const settings = parseSettings({});
  const runtime = new ServiceRuntime<TtsEngine>(
    'tts',
    settings,
    settings.tts,
    createTtsEngine(settings.tts),
    pino({ level: 'silent' }),
    new ResourceMonitor(),
  );
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>() as unknown as ServiceApp;
  await registerOpenApi(app, { service: 'tts', version: '9.9.9', apiKeyRequired });
  registerHealthRoutes(app, runtime);
  registerTtsRoutes(app, runtime, settings.tts);
  await app.ready();
  return app;
}

describe('OpenAPI document and /docs', () => {
  let app: ServiceApp;
  let doc: OpenApiDocument;

  before(async () => {
    app = await ttsAppWithDocs(true);
    const response = await app.inject('/openapi.json');
    assert.equal(response.statusCode, 200);
    doc = response.json<OpenApiDocument>();
  });
  after(() => app.close());

  test('is generated from the schemas the routes validate with', () => {
    assert.equal(doc.info.title, 'Voice Stack TTS');
    assert.equal(doc.info.version, '9.9.9');
    const body = doc.paths['/v1/audio/speech']?.post?.requestBody?.content['application/json']?.schema;
    assert.ok(body?.properties?.input, 'speech body documents input');
    assert.deepEqual(body?.properties?.response_format?.enum?.sort(), [
      'aac',
      'flac',
      'mp3',
      'opus',
      'pcm',
      'wav',
    ]);
  });

  test('lists every route, and hides its own', () => {
    for (const path of ['/health', '/ready', '/metrics', '/v1/audio/speech', '/v1/audio/voices']) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.equal(doc.paths['/openapi.json'], undefined);
    assert.ok(!Object.keys(doc.paths).some((path) => path.startsWith('/docs')));
  });

  test('declares the Bearer key, and no key for the open routes', () => {
    assert.ok(doc.components?.securitySchemes?.bearerAuth);
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.paths['/health']?.get?.security, []);
    assert.equal(doc.paths['/v1/audio/speech']?.post?.security, undefined);
  });

  test('serves the interactive page and its assets from the package, not a CDN', async () => {
    const page = await app.inject('/docs/');
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.doesNotMatch(page.body, /https?:\/\/(?!localhost)[^"']+\.js/);
    const initializer = await app.inject('/docs/static/swagger-initializer.js');
    assert.equal(initializer.statusCode, 200);
    const bundle = await app.inject('/docs/static/swagger-ui-bundle.js');
    assert.equal(bundle.statusCode, 200);
    assert.ok(bundle.body.length > 100_000);
  });

  test('without an API key the document declares no security', async () => {
    const open = await ttsAppWithDocs(false);
    try {
      const plain = (await open.inject('/openapi.json')).json<OpenApiDocument>();
      assert.equal(plain.components?.securitySchemes, undefined);
      assert.deepEqual(plain.security, []);
    } finally {
      await open.close();
    }
  });
});
