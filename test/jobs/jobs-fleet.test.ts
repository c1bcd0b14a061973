import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import {
  ended,
  JOBS,
  metricValue,
  startWorker,
  submitJob,
  WEBHOOK_SECRET,
  WebhookReceiver,
  waitForJob,
} from './job-helpers.js';

const JOB_COUNT = 50;
const FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;

describe('a fleet: one API-only node, three `voice-stack worker asr` processes', () => {
  let redis: RedisServer;
  let api: ServiceProcess;
  let receiver: WebhookReceiver;
  const workers: ServiceProcess[] = [];
  before(async () => {
    redis = await RedisServer.start();
    receiver = await WebhookReceiver.start();
    const env = {
      ASR_MODEL: await testWhisperModel(),
      REDIS_URL: redis.url,
      WEBHOOK_SECRET,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    api = await ServiceProcess.start(['serve', 'asr'], { ...env, ASR_JOBS_WORKER: 'false' });
    for (let i = 0; i < 3; i++) {
      workers.push(await startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_CPU_THREADS: '1' }));
    }
  });
  after(async () => {
    await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
    await receiver?.close();
    await redis?.stop();
  });

  it(`runs ${JOB_COUNT} jobs, each succeeding exactly once, with results in all five formats`, async () => {
    const base = api.url('asr');
    const speech = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    assert.equal(await metricValue(base, 'voice_stack_job_workers'), 3, 'the API node sees three workers');
    const ids: string[] = [];
    for (let i = 0; i < JOB_COUNT; i++) {
      const submitted = await submitJob(base, speech, { language: 'en', webhook_url: receiver.url });
      assert.equal(submitted.status, 202);
      ids.push(String(submitted.body.id));
    }
    for (const id of ids) {
      const job = await waitForJob(base, id, ended, 120_000);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
    }
    const perWorker = await Promise.all(
      workers.map((w) =>
        metricValue(w.url('asr'), 'voice_stack_jobs_finished_total', { status: 'succeeded' }),
      ),
    );
    assert.equal(
      perWorker.reduce((a, b) => a + b, 0),
      JOB_COUNT,
      `successes per worker ${perWorker}: one per job`,
    );
    assert.ok(perWorker.filter((n) => n > 0).length >= 2, `work spread over the fleet: ${perWorker}`);
    assert.equal(await metricValue(base, 'voice_stack_jobs', { status: 'succeeded' }), JOB_COUNT);
    for (const id of ids) {
      for (const format of FORMATS) {
        const r = await request(`${base}${JOBS}/${id}/result?response_format=${format}`);
        assert.equal(r.statusCode, 200, `${id} ${format}`);
        assert.ok((await r.body.text()).length > 0);
      }
    }
    const deadline = Date.now() + 20_000;
    while (receiver.deliveries.length < JOB_COUNT && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) assert.equal(receiver.for(id).length, 1, `one webhook for ${id}`);
    assert.ok(receiver.deliveries.every((d) => d.verified));
    const waitCount = await metricValue(
      workers[0]?.url('asr') ?? '',
      'voice_stack_job_queue_wait_seconds_count',
    );
    assert.ok(waitCount > 0, 'workers measure the queue wait');
  });
});
