import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { ServiceApp } from '../../src/core/http/service-app-type.js';
import { packageVersion } from '../../src/core/package-version.js';
import { ResourceMonitor } from '../../src/core/runtime/resource-guard.js';
import { parseSettings } from '../../src/core/settings.js';
import { ttsService } from '../../src/tts/tts-service.js';

const API_KEY = 'openapi-test-key';
const withKey = { authorization: `Bearer ${API_KEY}` };

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

/** The TTS service as `serve` builds it (its engine is espeak-ng, loaded only on use). */
async function ttsAppWithDocs(apiKeyRequired: boolean): Promise<ServiceApp> {
  const settings = parseSettings(apiKeyRequired ? { API_KEY } : {});
  const { app } = await ttsService.build(settings, pino({ level: 'silent' }), new ResourceMonitor());
  await app.ready();
  return app;
}

describe('OpenAPI document and /docs', () => {
  let app: ServiceApp;
  let doc: OpenApiDocument;

  before(async () => {
    app = await ttsAppWithDocs(true);
    const response = await app.inject({ url: '/openapi.json', headers: withKey });
    assert.equal(response.statusCode, 200);
    doc = response.json<OpenApiDocument>();
  });
  after(() => app.close());

  test('is generated from the schemas the routes validate with', () => {
    assert.equal(doc.info.title, 'Voice Stack TTS');
    assert.equal(doc.info.version, packageVersion());
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
    const page = await app.inject({ url: '/docs/', headers: withKey });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.doesNotMatch(page.body, /https?:\/\/(?!localhost)[^"']+\.js/);
    const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js', headers: withKey });
    assert.equal(initializer.statusCode, 200);
    const bundle = await app.inject({ url: '/docs/static/swagger-ui-bundle.js', headers: withKey });
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
