import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { FormData, request } from 'undici';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';

const KEY = 'openapi-live-key';
const AUTH = { authorization: `Bearer ${KEY}` };

interface MediaType {
  schema?: object;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface Operation {
  responses?: Record<string, ResponseObject>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

/** One live exchange, named by the documented path template it exercises. */
interface Exchange {
  readonly method: HttpMethod;
  readonly path: string;
  readonly url: string;
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

type HttpMethod = 'get' | 'post' | 'delete';

interface SendInit {
  readonly body?: FormData | string;
  readonly headers?: Record<string, string>;
  /** The status this exchange must get (200 unless said). */
  readonly expect?: number;
}

type Send = (method: HttpMethod, path: string, url: string, init?: SendInit) => Promise<Exchange>;

function sender(base: string, into: Exchange[]): Send {
  return async (method, path, url, init = {}) => {
    const response = await request(`${base}${url}`, {
      method: method.toUpperCase() as 'GET' | 'POST' | 'DELETE',
      headers: { ...AUTH, ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    const contentType =
      String(response.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim() ?? '';
    const exchange = { method, path, url, status: response.statusCode, contentType, body };
    assert.equal(exchange.status, init.expect ?? 200, `${method.toUpperCase()} ${url}: ${body}`);
    into.push(exchange);
    return exchange;
  };
}

function form(
  fields: Record<string, string>,
  file?: { field: string; data: Buffer; name: string },
): FormData {
  const body = new FormData();
  if (file) body.append(file.field, new Blob([new Uint8Array(file.data)]), file.name);
  for (const [key, value] of Object.entries(fields)) body.append(key, value);
  return body;
}

async function openApi(base: string): Promise<OpenApiDocument> {
  const response = await request(`${base}/openapi.json`, { headers: AUTH });
  assert.equal(response.statusCode, 200);
  return (await response.body.json()) as OpenApiDocument;
}

/** The documented response for a status: its own entry, else its class (`4XX`). */
function documentedResponse(doc: OpenApiDocument, exchange: Exchange): ResponseObject | undefined {
  const responses = doc.paths[exchange.path]?.[exchange.method]?.responses ?? {};
  return responses[String(exchange.status)] ?? responses[`${String(exchange.status)[0]}XX`];
}

function ajv() {
  const validator = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(validator);
  return validator;
}

/** Checks each exchange against what the document says that route answers with that status. */
function checkAgainstDocument(doc: OpenApiDocument, exchanges: readonly Exchange[]): void {
  const validator = ajv();
  for (const exchange of exchanges) {
    const label = `${exchange.method.toUpperCase()} ${exchange.url} → ${exchange.status}`;
    const documented = documentedResponse(doc, exchange);
    assert.ok(documented, `${label}: status not documented`);
    const media = documented.content?.[exchange.contentType];
    assert.ok(
      media,
      `${label}: ${exchange.contentType} not among ${Object.keys(documented.content ?? {}).join(', ')}`,
    );
    if (exchange.contentType !== 'application/json') continue;
    assert.ok(media.schema, `${label}: no schema`);
    const validate = validator.compile(media.schema);
    const valid = validate(JSON.parse(exchange.body.toString('utf8')));
    assert.ok(valid, `${label}: ${JSON.stringify(validate.errors)}`);
  }
}

/** Every documented operation was exercised live, and each documents success and both error classes. */
function checkCoverage(doc: OpenApiDocument, exchanges: readonly Exchange[]): void {
  const exercised = new Set(exchanges.map((e) => `${e.method} ${e.path}`));
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      assert.ok(exercised.has(`${method} ${path}`), `${method.toUpperCase()} ${path} has no live check`);
      const statuses = Object.keys(operation.responses ?? {});
      // 101 is the success of a WebSocket upgrade (/v1/realtime).
      assert.ok(
        statuses.some((s) => /^2|^101$/.test(s)),
        `${method} ${path}: no success response`,
      );
      assert.ok(statuses.includes('4XX') && statuses.includes('5XX'), `${method} ${path}: ${statuses}`);
    }
  }
}

async function assertValidOpenApi31(doc: OpenApiDocument): Promise<void> {
  assert.equal(doc.openapi, '3.1.0');
  const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
  assert.ok(result.valid, JSON.stringify(result.errors));
}

async function exerciseCommonRoutes(send: Send): Promise<void> {
  for (const path of ['/health', '/healthz', '/healthcheck', '/health/detailed', '/ready', '/metrics']) {
    await send('get', path, path);
  }
  await send('get', '/', '/');
  await send('get', '/v1/models', '/v1/models');
  await send('get', '/v1/audio/models', '/v1/audio/models');
  await send('get', '/v1/models/{id}', '/v1/models/no-such-model', { expect: 404 });
  // Without the key: the 401 body is the documented error envelope too.
  const wrongKey = { headers: { authorization: 'Bearer wrong' }, expect: 401 };
  await send('get', '/v1/models', '/v1/models', wrongKey);
}

/** Submit, poll until done, read the result, list, and refuse to cancel what has ended. */
async function exerciseJobRoutes(send: Send, file: { field: string; data: Buffer; name: string }) {
  const jobs = '/v1/audio/transcriptions/jobs';
  const submitted = await send('post', jobs, jobs, { body: form({ model: 'whisper-1' }, file), expect: 202 });
  const { id } = JSON.parse(submitted.body.toString('utf8')) as { id: string };
  const one = `${jobs}/{id}`;
  const deadline = Date.now() + 60_000;
  while (true) {
    const status = await send('get', one, `${jobs}/${id}`);
    const { status: state } = JSON.parse(status.body.toString('utf8')) as { status: string };
    if (state === 'succeeded') break;
    assert.ok(state === 'queued' || state === 'running', `job ${id}: ${state}`);
    assert.ok(Date.now() < deadline, `job ${id} still ${state} after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  for (const format of ['json', 'verbose_json', 'srt']) {
    await send('get', `${one}/result`, `${jobs}/${id}/result?response_format=${format}`);
  }
  await send('get', jobs, `${jobs}?status=succeeded&limit=5`);
  await send('get', one, `${jobs}/00000000-0000-4000-8000-000000000000`, { expect: 404 });
  // Cancelling a job that has ended is a conflict, in the error envelope.
  await send('delete', one, `${jobs}/${id}`, { expect: 409 });
}

describe('/openapi.json against live responses (real services, real engines)', () => {
  let server: ServiceProcess;
  let redis: RedisServer;
  let wav: Buffer;
  before(async () => {
    const model = await testWhisperModel();
    wav = readFileSync(
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    // A real Redis, so the jobs routes answer as in production (the job runs here too).
    redis = await RedisServer.start();
    server = await ServiceProcess.start(['serve'], {
      ASR_MODEL: model,
      API_KEY: KEY,
      LOG_LEVEL: 'info',
      REDIS_URL: redis.url,
    });
  });
  after(async () => {
    await server?.stop();
    await redis?.stop();
  });

  test('ASR: valid OpenAPI 3.1, every route checked live against its response schema', async () => {
    const base = server.url('asr');
    const doc = await openApi(base);
    await assertValidOpenApi31(doc);
    const exchanges: Exchange[] = [];
    const send = sender(base, exchanges);
    const audio = (field: string) => ({ field, data: wav, name: 'speech.wav' });
    await exerciseCommonRoutes(send);
    await send('get', '/v1/models/{id}', '/v1/models/whisper-1');
    await send('get', '/bazarr/models', '/bazarr/models');
    // Plain HTTP on the WebSocket route: the documented 426 (the upgrade itself is tested in test/asr/realtime-*).
    await send('get', '/v1/realtime', '/v1/realtime?intent=transcription', { expect: 426 });
    for (const format of ['json', 'verbose_json', 'text', 'srt', 'vtt']) {
      const body = form({ model: 'whisper-1', response_format: format }, audio('file'));
      await send('post', '/v1/audio/transcriptions', '/v1/audio/transcriptions', { body });
    }
    const noFile = form({ model: 'whisper-1' });
    await send('post', '/v1/audio/transcriptions', '/v1/audio/transcriptions', { body: noFile, expect: 400 });
    const translation = form({ model: 'whisper-1' }, audio('file'));
    await send('post', '/v1/audio/translations', '/v1/audio/translations', { body: translation });
    for (const prefix of ['', '/bazarr']) {
      for (const output of ['json', 'srt', 'txt']) {
        const url = `${prefix}/asr?output=${output}&task=transcribe`;
        await send('post', `${prefix}/asr`, url, { body: form({}, audio('audio_file')) });
      }
      await send('post', `${prefix}/asr`, `${prefix}/asr`, { body: form({}), expect: 400 });
      const detect = form({}, audio('audio_file'));
      await send('post', `${prefix}/detect-language`, `${prefix}/detect-language`, { body: detect });
    }
    await exerciseJobRoutes(send, audio('file'));
    checkAgainstDocument(doc, exchanges);
    checkCoverage(doc, exchanges);
  });

  test('TTS: valid OpenAPI 3.1, every route checked live against its response schema', async () => {
    const base = server.url('tts');
    const doc = await openApi(base);
    await assertValidOpenApi31(doc);
    const exchanges: Exchange[] = [];
    const send = sender(base, exchanges);
    await exerciseCommonRoutes(send);
    await send('get', '/v1/models/{id}', '/v1/models/tts-1');
    await send('get', '/v1/audio/voices', '/v1/audio/voices');
    const speech = (body: object) => ({
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    for (const format of ['wav', 'mp3', 'pcm']) {
      const body = { model: 'tts-1', input: 'Hello there.', voice: 'alloy', response_format: format };
      await send('post', '/v1/audio/speech', '/v1/audio/speech', speech(body));
    }
    const sse = { model: 'tts-1', input: 'Hello there.', voice: 'alloy', stream_format: 'sse' };
    await send('post', '/v1/audio/speech', '/v1/audio/speech', speech(sse));
    const empty = { ...speech({ model: 'tts-1', input: '   ' }), expect: 400 };
    await send('post', '/v1/audio/speech', '/v1/audio/speech', empty);
    checkAgainstDocument(doc, exchanges);
    checkCoverage(doc, exchanges);
  });
});
