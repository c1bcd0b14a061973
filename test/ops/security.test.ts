/**
 * What a self-hoster exposing the TTS service relies on, checked against the real
 * server: the API key, CORS, request ids and error bodies that leak nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const KEY = 'test-key-0123456789';
const SPEECH = { model: 'tts-1', input: 'Hi.', voice: 'alloy', response_format: 'wav' };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

interface ErrorBody {
  error: { message: string; type: string; code: string };
}

/** What must never reach a client: stack frames, source or install paths (beyond what it sent). */
function assertLeaksNothing(responseBody: string, echoed = ''): void {
  const body = echoed === '' ? responseBody : responseBody.replaceAll(echoed, '<input>');
  assert.doesNotMatch(body, /\n\s+at |at \S+ \(/, 'stack trace in body');
  assert.doesNotMatch(body, /\/(work|home|root|usr|tmp|opt|srv)\//, 'file path in body');
  assert.doesNotMatch(body, /node_modules|\.js:\d+|\.ts:\d+/, 'source location in body');
}

describe('API_KEY', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'tts'], { API_KEY: KEY });
    base = server.url('tts');
  });
  after(() => server.stop());

  test('inference and listing routes answer 401 Invalid API key without the right Bearer key', async () => {
    for (const headers of [{}, bearer('wrong'), { authorization: KEY }, bearer(`${KEY}x`)]) {
      const response = await http(`${base}/v1/audio/speech`, { json: SPEECH, headers });
      assert.equal(response.status, 401);
      const body = response.json<ErrorBody>();
      assert.match(body.error.message, /^Invalid API key/);
      assert.equal(body.error.code, 'VS_ERR_UNAUTHORIZED');
    }
    assert.equal((await http(`${base}/v1/models`)).status, 401);
  });

  test("the voice and model listings stay open for Open WebUI's pickers, which send no key", async () => {
    assert.equal((await http(`${base}/v1/audio/voices`)).status, 200);
    assert.equal((await http(`${base}/v1/audio/models`)).status, 200);
  });

  test('the right key is accepted', async () => {
    const response = await http(`${base}/v1/audio/speech`, { json: SPEECH, headers: bearer(KEY) });
    assert.equal(response.status, 200);
    assert.equal(response.body.subarray(0, 4).toString('latin1'), 'RIFF');
  });

  test('health, readiness and metrics stay open for probes and Prometheus', async () => {
    for (const path of ['/health', '/healthz', '/healthcheck', '/health/detailed', '/ready', '/metrics']) {
      assert.equal((await http(`${base}${path}`)).status, 200, path);
    }
  });
});

describe('METRICS_REQUIRE_API_KEY=true', () => {
  let server: ServiceProcess;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'tts'], {
      API_KEY: KEY,
      METRICS_REQUIRE_API_KEY: 'true',
      LISTINGS_REQUIRE_API_KEY: 'true',
    });
  });
  after(() => server.stop());

  test('protects /metrics but not /health', async () => {
    const base = server.url('tts');
    assert.equal((await http(`${base}/metrics`)).status, 401);
    assert.equal((await http(`${base}/metrics`, { headers: bearer(KEY) })).status, 200);
    assert.equal((await http(`${base}/health`)).status, 200);
  });

  test('LISTINGS_REQUIRE_API_KEY=true protects the listings too', async () => {
    const base = server.url('tts');
    assert.equal((await http(`${base}/v1/audio/voices`)).status, 401);
    assert.equal((await http(`${base}/v1/audio/models`)).status, 401);
    assert.equal((await http(`${base}/v1/audio/voices`, { headers: bearer(KEY) })).status, 200);
  });
});

describe('CORS, request ids and error bodies', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'tts'], {
      CORS_ORIGINS: 'https://app.example.org, https://other.example.org',
      MAX_TEXT_CHARS: '50',
    });
    base = server.url('tts');
  });
  after(() => server.stop());

  test('CORS_ORIGINS allows the listed origins and no others', async () => {
    const allowed = await http(`${base}/v1/audio/voices`, { headers: { origin: 'https://app.example.org' } });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.org');
    const denied = await http(`${base}/v1/audio/voices`, { headers: { origin: 'https://evil.example.com' } });
    assert.equal(denied.headers['access-control-allow-origin'], undefined);
  });

  test('a CORS preflight for the speech route succeeds for a listed origin', async () => {
    const response = await fetch(`${base}/v1/audio/speech`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://other.example.org',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      },
    });
    assert.ok(response.status === 204 || response.status === 200, `status ${response.status}`);
    assert.equal(response.headers.get('access-control-allow-origin'), 'https://other.example.org');
  });

  test('x-request-id is echoed and lands in the log line of the request', async () => {
    const response = await http(`${base}/v1/audio/voices`, { headers: { 'x-request-id': 'trace-abc-123' } });
    assert.equal(response.headers['x-request-id'], 'trace-abc-123');
    await server.waitFor(() => server.logsWith('reqId', 'trace-abc-123').length > 0, 5000, 'the log line');
    const generated = await http(`${base}/health`);
    assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('malformed JSON, traversal in a voice name and over-long text leak no stack or path', async () => {
    const cases = [
      { body: '{"input": "Hi", ', status: 400 },
      { json: { ...SPEECH, voice: '../../../../etc/passwd' }, status: 400, param: /voice/ },
      { json: { ...SPEECH, voice: '/usr/share/espeak-ng-data/voices/!v/m1' }, status: 400, param: /voice/ },
      { json: { ...SPEECH, input: 'x'.repeat(51) }, status: 400, param: /MAX_TEXT_CHARS/ },
    ];
    for (const { status, param, ...request } of cases) {
      const headers = { 'content-type': 'application/json' };
      const response = await http(`${base}/v1/audio/speech`, { method: 'POST', headers, ...request });
      assert.equal(response.status, status, response.body.toString());
      const text = response.body.toString('utf8');
      if (param) assert.match(text, param);
      assertLeaksNothing(text, request.json?.voice);
      assert.ok(response.json<ErrorBody>().error.code.startsWith('VS_ERR_'));
    }
  });

  test('an unknown route answers a JSON 404 without internals', async () => {
    const response = await http(`${base}/../../etc/passwd`);
    assert.equal(response.status, 404);
    assertLeaksNothing(response.body.toString('utf8'));
  });
});
