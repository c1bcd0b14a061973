import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import { ended, JOBS, metricValue, startWorker, submitJob, waitForJob } from './job-helpers.js';

async function post(
  url: string,
  field: string,
  data: Buffer,
  fields: Record<string, string> = {},
  signal?: AbortSignal,
) {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(data)]), 'audio.wav');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const response = await request(url, { method: 'POST', body: form, ...(signal ? { signal } : {}) });
  return {
    status: response.statusCode,
    headers: response.headers,
    text: await response.body.text(),
  };
}

describe('ASR_DISPATCH=queue: the synchronous API on a worker fleet', () => {
  let redis: RedisServer;
  let api: ServiceProcess;
  let local: ServiceProcess;
  let worker: ServiceProcess;
  const speech = () =>
    readFileSync(speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'));
  before(async () => {
    redis = await RedisServer.start();
    const model = await testWhisperModel();
    const same = { ASR_MODEL: model, ASR_CPU_THREADS: '1', ASR_MAX_CONCURRENT_REQUESTS: '1' };
    api = await ServiceProcess.start(['serve', 'asr'], {
      ...same,
      REDIS_URL: redis.url,
      ASR_JOBS_WORKER: 'false',
      ASR_DISPATCH: 'queue',
      MAX_QUEUE_SIZE: '1',
    });
    local = await ServiceProcess.start(['serve', 'asr'], same);
    worker = await startWorker({ ...same, REDIS_URL: redis.url });
  });
  after(async () => {
    await Promise.all([api?.stop(), local?.stop(), worker?.stop()]);
    await redis?.stop();
  });

  it('answers exactly as a local transcription, in every format and on /asr, run by the worker', async () => {
    for (const format of ['json', 'text', 'srt', 'vtt', 'verbose_json']) {
      const fields = { response_format: format, language: 'en' };
      const remote = await post(`${api.url('asr')}/v1/audio/transcriptions`, 'file', speech(), fields);
      const here = await post(`${local.url('asr')}/v1/audio/transcriptions`, 'file', speech(), fields);
      assert.equal(remote.status, 200, remote.text);
      if (format === 'verbose_json') {
        // The audio travels as 16-bit samples: the engine's log-probabilities and no-speech
        // probabilities move in the 4th decimal.
        const strip = (text: string) =>
          JSON.parse(text, (key, value) =>
            key === 'avg_logprob' || key === 'no_speech_prob' ? Math.round(value * 100) : value,
          );
        assert.deepEqual(strip(remote.text), strip(here.text));
      } else {
        assert.equal(remote.text, here.text, format);
      }
      assert.equal(remote.headers['content-type'], here.headers['content-type']);
    }
    const bazarr = await post(`${api.url('asr')}/asr?output=srt&language=en`, 'audio_file', speech());
    const bazarrHere = await post(`${local.url('asr')}/asr?output=srt&language=en`, 'audio_file', speech());
    assert.equal(bazarr.text, bazarrHere.text);
    const bad = await post(
      `${api.url('asr')}/v1/audio/transcriptions`,
      'file',
      Buffer.from('not audio at all'),
    );
    const badHere = await post(
      `${local.url('asr')}/v1/audio/transcriptions`,
      'file',
      Buffer.from('not audio at all'),
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.text, badHere.text);
    assert.equal(
      await metricValue(worker.url('asr'), 'voice_stack_jobs_finished_total', { status: 'succeeded' }),
      6,
    );
    assert.equal(
      await metricValue(api.url('asr'), 'voice_stack_active_requests'),
      0,
      'nothing ran on the API node',
    );
    const list = (await (await request(`${api.url('asr')}${JOBS}`)).body.json()) as { data: unknown[] };
    assert.equal(list.data.length, 0, 'dispatched requests are not listed as jobs');
  });

  it('a client that disconnects cancels its job; a full fleet backlog answers 503 with Retry-After', async () => {
    const base = api.url('asr');
    const startedBefore = worker.logs.filter((l) => l.event === 'job_started').length;
    const controller = new AbortController();
    const pending = post(
      `${base}/v1/audio/transcriptions`,
      'file',
      readFileSync(loopedSpeechWav(300)),
      {},
      controller.signal,
    ).catch((e: unknown) => e);
    await worker.waitFor(
      () => worker.logs.filter((l) => l.event === 'job_started').length > startedBefore,
      20_000,
      'the job',
    );
    controller.abort();
    await pending;
    await worker.waitFor(() => worker.logs.some((l) => l.event === 'job_cancelled'), 10_000, 'the cancel');

    // One job running, one waiting (MAX_QUEUE_SIZE=1): the next synchronous request is refused.
    const running = await submitJob(base, loopedSpeechWav(120));
    await waitForJob(base, String(running.body.id), (j) => j.status === 'running');
    const waiting = await submitJob(base, speech());
    const refused = await post(`${base}/v1/audio/transcriptions`, 'file', speech());
    assert.equal(refused.status, 503);
    assert.match(refused.text, /Too many concurrent requests/);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    await waitForJob(base, String(waiting.body.id), ended, 60_000);
  });
});
