import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { freePort, RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import { ended, getJob, JOBS, metricValue, startWorker, submitJob, waitForJob } from './job-helpers.js';

const SENTENCE = 'Testing one two three. The service transcribes this sentence.';

describe('transcription jobs API (real redis-server, serve asr consuming its own jobs)', () => {
  let redis: RedisServer;
  let server: ServiceProcess;
  let base: string;
  let speech: string;
  before(async () => {
    redis = await RedisServer.start();
    speech = speechWav(SENTENCE, 'asr-speech');
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      REDIS_URL: redis.url,
      MAX_UPLOAD_SIZE_MB: '1',
    });
    base = server.url('asr');
  });
  after(async () => {
    await server?.stop();
    await redis?.stop();
  });

  it('submits (202 + Location), runs, and answers the result in all five formats from one stored result', async () => {
    const submitted = await submitJob(base, speech, {
      language: 'en',
      metadata: JSON.stringify({ film: 'x' }),
      'timestamp_granularities[]': 'word',
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    assert.equal(submitted.body.status, 'queued');
    assert.equal(typeof submitted.body.created_at, 'number');
    const id = String(submitted.body.id);
    assert.equal(submitted.location, `${JOBS}/${id}`);
    const job = await waitForJob(base, id, ended);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.equal(job.progress, 1);
    assert.ok(job.audio_seconds > 3 && job.audio_seconds < 5, `audio_seconds ${job.audio_seconds}`);
    assert.deepEqual(job.metadata, { film: 'x' });
    assert.ok(job.started_at !== null && job.finished_at !== null);
    assert.ok(job.result_url.endsWith(`${JOBS}/${id}/result`));

    const fetchAs = async (format: string) => {
      const r = await request(`${base}${JOBS}/${id}/result?response_format=${format}`);
      assert.equal(r.statusCode, 200, format);
      return { type: String(r.headers['content-type']), text: await r.body.text() };
    };
    const json = JSON.parse((await fetchAs('json')).text) as { text: string };
    const text = await fetchAs('text');
    const srt = await fetchAs('srt');
    const vtt = await fetchAs('vtt');
    const verbose = JSON.parse((await fetchAs('verbose_json')).text) as {
      text: string;
      segments: unknown[];
      words?: unknown[];
    };
    assert.ok(json.text.length > 0);
    assert.equal(text.text, `${json.text}\n`);
    assert.match(srt.text, /^1\n\d\d:\d\d:\d\d,\d\d\d --> /);
    assert.match(vtt.text, /^WEBVTT\n\n\d\d:\d\d:\d\d\.\d\d\d --> /);
    assert.match(vtt.type, /text\/vtt/);
    assert.equal(verbose.text, json.text);
    assert.ok(verbose.segments.length > 0);
    assert.ok(Array.isArray(verbose.words), 'word timestamps asked for at submission');
  });

  it('lists jobs newest first, by status', async () => {
    const a = await submitJob(base, speech);
    await waitForJob(base, String(a.body.id), ended);
    const r = await request(`${base}${JOBS}?status=succeeded&limit=1`);
    assert.equal(r.statusCode, 200);
    const list = (await r.body.json()) as { object: string; data: { id: string; status: string }[] };
    assert.equal(list.object, 'list');
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0]?.id, a.body.id);
    const none = (await (await request(`${base}${JOBS}?status=failed`)).body.json()) as { data: unknown[] };
    assert.equal(none.data.length, 0);
  });

  it('refuses bad audio at submission with the same 400 as the synchronous route, and queues nothing', async () => {
    const garbage = Buffer.from('this is not audio at all, just text pretending to be a file');
    const sync = new FormData();
    sync.append('file', new Blob([new Uint8Array(garbage)]), 'bad.wav');
    const syncResponse = await request(`${base}/v1/audio/transcriptions`, { method: 'POST', body: sync });
    const syncBody = await syncResponse.body.json();
    const job = await submitJob(base, garbage);
    assert.equal(syncResponse.statusCode, 400);
    assert.equal(job.status, 400);
    assert.deepEqual(job.body, syncBody);
    assert.match(JSON.stringify(job.body), /Could not decode audio/);
    const big = await submitJob(base, Buffer.alloc(2 * 1024 * 1024));
    assert.equal(big.status, 413);
    assert.match(JSON.stringify(big.body), /File too large/);
    assert.equal(await metricValue(base, 'voice_stack_jobs', { status: 'queued' }), 0);
  });

  it('validates metadata and unknown ids; a finished job cannot be cancelled (409)', async () => {
    const badMeta = await submitJob(base, speech, { metadata: '{not json' });
    assert.equal(badMeta.status, 400);
    assert.match(JSON.stringify(badMeta.body), /metadata/);
    const missing = await request(`${base}${JOBS}/00000000-0000-4000-8000-000000000000`);
    assert.equal(missing.statusCode, 404);
    await missing.body.dump();
    // Not a job id: it can never reach another of the service's keys in Redis.
    for (const id of ['index', 'finished', '..%2Fx']) {
      const r = await request(`${base}${JOBS}/${id}`);
      assert.equal(r.statusCode, 400, id);
      await r.body.dump();
    }
    const done = await submitJob(base, speech);
    await waitForJob(base, String(done.body.id), ended);
    const cancel = await request(`${base}${JOBS}/${done.body.id}`, { method: 'DELETE' });
    assert.equal(cancel.statusCode, 409);
    await cancel.body.dump();
  });

  it('shows the jobs in /metrics and /openapi.json', async () => {
    assert.ok((await metricValue(base, 'voice_stack_jobs', { status: 'succeeded' })) >= 2);
    assert.ok((await metricValue(base, 'voice_stack_jobs_submitted_total')) >= 2);
    assert.equal(await metricValue(base, 'voice_stack_job_workers'), 1);
    assert.ok((await metricValue(base, 'voice_stack_job_audio_seconds_total')) > 0);
    const doc = (await (await request(`${base}/openapi.json`)).body.json()) as {
      paths: Record<string, object>;
    };
    for (const path of [JOBS, `${JOBS}/{id}`, `${JOBS}/{id}/result`]) assert.ok(doc.paths[path], path);
  });
});

describe('jobs routes without Redis', () => {
  it('answer 503 naming REDIS_URL when it is unset, and naming Redis when it is unreachable, while the sync API works', async () => {
    const model = await testWhisperModel();
    const speech = readFileSync(speechWav(SENTENCE, 'asr-speech'));
    const unset = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: model });
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const dead = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: model, REDIS_URL: deadUrl });
    try {
      const a = await submitJob(unset.url('asr'), speech);
      assert.equal(a.status, 503);
      assert.match(JSON.stringify(a.body), /REDIS_URL/);
      for (const url of [`${JOBS}/00000000-0000-4000-8000-000000000000`, JOBS]) {
        const r = await request(`${dead.url('asr')}${url}`);
        assert.equal(r.statusCode, 503);
        assert.match(await r.body.text(), /Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
      }
      const b = await submitJob(dead.url('asr'), speech);
      assert.equal(b.status, 503);
      assert.match(JSON.stringify(b.body), /Redis .* is unreachable/);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(speech)]), 'a.wav');
      const sync = await request(`${dead.url('asr')}/v1/audio/transcriptions`, {
        method: 'POST',
        body: form,
      });
      assert.equal(sync.statusCode, 200);
      assert.ok(((await sync.body.json()) as { text: string }).text.length > 0);
      assert.equal(
        ((await (await request(`${dead.url('asr')}/health`)).body.json()) as { status: string }).status,
        'ok',
      );
      await getJob(unset.url('asr'), '00000000-0000-4000-8000-000000000000').then(
        () => assert.fail('expected a 503'),
        (e: Error) => assert.match(e.message, /503/),
      );
    } finally {
      await unset.stop();
      await dead.stop();
    }
  });
});

describe('retention', () => {
  it('deletes the audio when the job ends, and the record and result after JOB_RETENTION_HOURS', async () => {
    const redis = await RedisServer.start();
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      REDIS_URL: redis.url,
      JOB_RETENTION_HOURS: '0.001',
      ASR_JOBS_WORKER: 'false',
    });
    const client = redis.client();
    let worker: ServiceProcess | undefined;
    try {
      const base = server.url('asr');
      const submitted = await submitJob(base, speechWav(SENTENCE, 'asr-speech'));
      const id = String(submitted.body.id);
      assert.equal(await client.exists(`voice-stack:asr-jobs:${id}:audio`), 1, 'the audio waits in Redis');
      worker = await startWorker({
        ASR_MODEL: await testWhisperModel(),
        REDIS_URL: redis.url,
        JOB_RETENTION_HOURS: '0.001',
      });
      assert.equal((await waitForJob(base, id, ended)).status, 'succeeded');
      assert.equal(
        await client.exists(`voice-stack:asr-jobs:${id}:audio`),
        0,
        'audio deleted as the job ended',
      );
      const ttl = await client.ttl(`voice-stack:asr-jobs:${id}:result`);
      assert.ok(ttl > 0 && ttl <= 4, `result expires with the retention (ttl ${ttl} s)`);
      const deadline = Date.now() + 15_000;
      while (true) {
        const r = await request(`${base}${JOBS}/${id}`);
        await r.body.dump();
        if (r.statusCode === 404) break;
        if (Date.now() > deadline) throw new Error('the job outlived its retention');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(await client.exists(`voice-stack:asr-jobs:${id}:result`), 0);
    } finally {
      client.disconnect();
      await Promise.all([server.stop(), worker?.stop()]);
      await redis.stop();
    }
  });
});
