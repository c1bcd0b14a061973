import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { FormData, request } from 'undici';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../support/fixtures.js';
import { detailedHealth, postForm } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

interface StreamEvent {
  type: string;
  delta?: string;
  text?: string;
  usage?: { type: string; input_tokens: number; output_tokens: number; total_tokens: number };
  error?: { message: string; code: string };
}

/** Server-sent events as the SDK reads them: `data:` lines, events split by a blank line. */
function parseEvents(raw: string): StreamEvent[] {
  return raw
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      return JSON.parse(data) as StreamEvent;
    });
}

function streamForm(data: Buffer, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), 'speech.wav');
  form.append('model', 'whisper-1');
  form.append('stream', 'true');
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return form;
}

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('stream=true on /v1/audio/transcriptions (real server, real binding)', () => {
  let server: ServiceProcess;
  let base: string;
  /** Seventy seconds of speech: three whisper windows, so text arrives in more than one piece. */
  let long: Buffer;
  before(async () => {
    long = readFileSync(loopedSpeechWav(70));
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      MAX_CONCURRENT_REQUESTS: '1',
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('the official openai client streams delta events and a done event with the whole text and usage', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-needed' });
    const stream = await client.audio.transcriptions.create({
      file: createReadStream(loopedSpeechWav(70)),
      model: 'whisper-1',
      stream: true,
    });
    const events: { type: string; delta?: string; text?: string; usage?: unknown }[] = [];
    for await (const event of stream) events.push(event);
    const last = events.at(-1);
    assert.ok(last !== undefined && last.type === 'transcript.text.done', 'the stream ends with done');
    const deltas = events.slice(0, -1);
    assert.ok(deltas.length >= 1, 'text came as deltas');
    for (const event of deltas) assert.equal(event.type, 'transcript.text.delta');
    assert.equal(deltas.map((e) => e.delta).join(''), last.text, 'the deltas add up to the done text');
    const usage = last.usage as {
      type: string;
      input_tokens: number;
      output_tokens: number;
      total_tokens: number;
    };
    assert.equal(usage.type, 'tokens');
    assert.ok(usage.input_tokens > 0);
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  });

  it('sends text/event-stream, text arriving before the end, no terminator beyond the done event', async () => {
    const response = await request(`${base}/v1/audio/transcriptions`, {
      method: 'POST',
      body: streamForm(long, { response_format: 'text' }),
    });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/event-stream/);
    // Each read of the body records how many events had arrived by then.
    let raw = '';
    const seenAt: number[] = [];
    for await (const chunk of response.body) {
      raw += (chunk as Buffer).toString('utf8');
      seenAt.push(raw.split('\n\n').length - 1);
    }
    assert.ok(raw.endsWith('\n\n'));
    const events = parseEvents(raw);
    assert.equal(events.at(-1)?.type, 'transcript.text.done');
    assert.ok(
      events.slice(0, -1).every((e) => e.type === 'transcript.text.delta'),
      'only deltas before the end',
    );
    assert.ok(events.length >= 2, `deltas then done: ${raw.slice(0, 300)}`);
    assert.ok(seenAt.length >= 2 && (seenAt[0] ?? 0) < events.length, 'the first text came before the end');
  });

  it('translations stream the same way', async () => {
    const short = readFileSync(
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    const response = await request(`${base}/v1/audio/translations`, {
      method: 'POST',
      body: streamForm(short),
    });
    assert.equal(response.statusCode, 200);
    const events = parseEvents(await response.body.text());
    assert.equal(events.at(-1)?.type, 'transcript.text.done');
  });

  it('formats that cannot stream are refused with 400 naming the stream parameter', async () => {
    const short = readFileSync(
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    for (const format of ['srt', 'vtt', 'verbose_json']) {
      const response = await postForm(
        `${base}/v1/audio/transcriptions`,
        { model: 'whisper-1', stream: 'true', response_format: format },
        { field: 'file', data: short, name: 'speech.wav' },
      );
      assert.equal(response.status, 400, format);
      const body = response.json<{ error: { message: string; param: string } }>();
      assert.equal(body.error.param, 'stream');
      assert.match(body.error.message, /'stream'/);
      assert.match(body.error.message, new RegExp(format));
    }
  });

  it('a failure before any text is an ordinary JSON error', async () => {
    const response = await request(`${base}/v1/audio/transcriptions`, {
      method: 'POST',
      body: streamForm(Buffer.from('this is not audio at all, not even close')),
    });
    assert.equal(response.statusCode, 400);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const body = (await response.body.json()) as { error: { message: string } };
    assert.match(body.error.message, /^Could not decode audio/);
  });

  it('runs through the admission queue, and a client that leaves mid-stream frees its slot', async () => {
    const controller = new AbortController();
    const response = await request(`${base}/v1/audio/transcriptions`, {
      method: 'POST',
      body: streamForm(readFileSync(loopedSpeechWav(120))),
      signal: controller.signal,
    });
    assert.equal(response.statusCode, 200);
    assert.equal((await detailedHealth(base)).concurrency.active_requests, 1, 'the stream holds a slot');
    const iterator = response.body[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await iterator.return?.().catch(() => undefined);
    await waitUntil(async () => (await detailedHealth(base)).concurrency.active_requests === 0, 20_000);
    const health = await detailedHealth(base);
    assert.equal(health.concurrency.queued, 0);
    await server.waitFor(
      () => server.logs.some((l) => l.code === 'VS_ERR_CLIENT_CLOSED'),
      5_000,
      'the engine to be stopped by the disconnect',
    );
    const next = await request(`${base}/v1/audio/transcriptions`, {
      method: 'POST',
      body: streamForm(
        readFileSync(
          speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
        ),
      ),
    });
    assert.equal(next.statusCode, 200, 'the service keeps working');
    assert.equal(parseEvents(await next.body.text()).at(-1)?.type, 'transcript.text.done');
  });
});
