import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import {
  ended,
  eventually,
  getJob,
  JOBS,
  metricValue,
  startWorker,
  submitJob,
  waitForJob,
} from './job-helpers.js';

describe('cancelling jobs (one worker, one slot)', () => {
  let redis: RedisServer;
  let api: ServiceProcess;
  let worker: ServiceProcess;
  before(async () => {
    redis = await RedisServer.start();
    const env = { ASR_MODEL: await testWhisperModel(), REDIS_URL: redis.url };
    api = await ServiceProcess.start(['serve', 'asr'], { ...env, ASR_JOBS_WORKER: 'false' });
    worker = await startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_CPU_THREADS: '1' });
  });
  after(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await redis?.stop();
  });

  it('DELETE on a running job stops its engine; status cancelled; the worker takes the next job', async () => {
    const base = api.url('asr');
    const long = await submitJob(base, loopedSpeechWav(300), { language: 'en' });
    const next = await submitJob(
      base,
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    const longId = String(long.body.id);
    const nextId = String(next.body.id);
    await waitForJob(base, longId, (j) => j.status === 'running');
    const queued = await getJob(base, nextId);
    assert.equal(queued.status, 'queued');
    assert.equal(queued.queue_position, 1);
    // The key KEDA's Redis list trigger reads: BullMQ's wait list, holding the queued job.
    const client = redis.client();
    try {
      assert.deepEqual(await client.lrange('bull:asr-transcriptions:wait', 0, -1), [nextId]);
    } finally {
      client.disconnect();
    }
    // The first block has reached the engine (the speech gate counts it on its way in).
    const deadline = Date.now() + 20_000;
    while (
      (await metricValue(worker.url('asr'), 'voice_stack_speech_gate_total', { decision: 'speech' })) < 1
    ) {
      if (Date.now() > deadline) throw new Error('the engine never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    const cancelledAt = Date.now();
    const cancel = await request(`${base}${JOBS}/${longId}`, { method: 'DELETE' });
    assert.equal(cancel.statusCode, 200);
    assert.equal(((await cancel.body.json()) as { status: string }).status, 'cancelled');

    const done = await waitForJob(base, nextId, ended, 30_000);
    assert.equal(done.status, 'succeeded', 'the worker took the next job');
    const nextStartLog = () => worker.logs.find((l) => l.event === 'job_started' && l.jobId === nextId);
    await eventually(() => nextStartLog() !== undefined, 'the next job_started log line');
    const nextStart = nextStartLog();
    const stoppedIn = Number(nextStart?.time) - cancelledAt;
    console.log(`slot freed and next job started ${stoppedIn} ms after the DELETE`);
    assert.ok(
      worker.logs.some((l) => l.event === 'job_cancelled' && l.jobId === longId),
      'the worker aborted it',
    );
    assert.ok(stoppedIn < 1000, `engine stopped and the next job started ${stoppedIn} ms after the DELETE`);

    const after = await getJob(base, longId);
    assert.equal(after.status, 'cancelled');
    assert.ok(after.progress < 1);
    const result = await request(`${base}${JOBS}/${longId}/result`);
    assert.equal(result.statusCode, 409);
    assert.match(await result.body.text(), /has no result \(status: cancelled\)/);
    // A cancellation is counted once, where the DELETE ended the job; the worker only stopped it.
    assert.equal(await metricValue(base, 'voice_stack_jobs_finished_total', { status: 'cancelled' }), 1);
    assert.equal(
      await metricValue(worker.url('asr'), 'voice_stack_jobs_finished_total', { status: 'cancelled' }),
      0,
    );
    assert.equal(
      await metricValue(worker.url('asr'), 'voice_stack_jobs_finished_total', { status: 'succeeded' }),
      1,
    );
  });

  it('DELETE on a queued job: it never runs', async () => {
    const base = api.url('asr');
    const long = await submitJob(base, loopedSpeechWav(120), { language: 'en' });
    const queued = await submitJob(
      base,
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    const queuedId = String(queued.body.id);
    await waitForJob(base, String(long.body.id), (j) => j.status === 'running');
    const cancel = await request(`${base}${JOBS}/${queuedId}`, { method: 'DELETE' });
    assert.equal(cancel.statusCode, 200);
    await cancel.body.dump();
    await waitForJob(base, String(long.body.id), ended, 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const job = await getJob(base, queuedId);
    assert.equal(job.status, 'cancelled');
    assert.equal(job.started_at, null);
    assert.ok(!worker.logs.some((l) => l.event === 'job_started' && l.jobId === queuedId));
    const again = await request(`${base}${JOBS}/${queuedId}`, { method: 'DELETE' });
    assert.equal(again.statusCode, 200, 'cancelling twice is fine');
    await again.body.dump();
  });
});
