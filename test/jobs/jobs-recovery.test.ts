import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../support/fixtures.js';
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

async function fleet(workerCount: number, extra: Record<string, string>) {
  const redis = await RedisServer.start();
  const receiver = await WebhookReceiver.start();
  const env = {
    ASR_MODEL: await testWhisperModel(),
    REDIS_URL: redis.url,
    WEBHOOK_SECRET,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...extra,
  };
  const processes: ServiceProcess[] = [];
  const stop = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await receiver.close();
    await redis.stop();
  };
  try {
    const api = await ServiceProcess.start(['serve', 'asr'], { ...env, ASR_JOBS_WORKER: 'false' });
    processes.push(api);
    const workers: ServiceProcess[] = [];
    for (let i = 0; i < workerCount; i++) {
      const worker = await startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_CPU_THREADS: '1' });
      processes.push(worker);
      workers.push(worker);
    }
    return { redis, receiver, api, workers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForDeliveries(receiver: WebhookReceiver, ids: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (ids.some((id) => receiver.for(id).length === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // Long enough for a duplicate to show up if there were one.
  await new Promise((r) => setTimeout(r, 1000));
}

const startedBy = (worker: ServiceProcess, id: string) =>
  worker.logs.filter((l) => l.event === 'job_started' && l.jobId === id);

describe('recovery', () => {
  it('a worker killed with SIGKILL mid-job: another worker completes it, one result, one webhook', async () => {
    const f = await fleet(2, { JOB_LOCK_SECONDS: '2' });
    try {
      const base = f.api.url('asr');
      const submitted = await submitJob(base, loopedSpeechWav(120), {
        language: 'en',
        webhook_url: f.receiver.url,
      });
      const id = String(submitted.body.id);
      await waitForJob(base, id, (j) => j.status === 'running');
      // The record says running a moment before the worker's log line arrives.
      await f.workers[0]?.waitFor(
        () => f.workers.some((w) => startedBy(w, id).length > 0),
        10_000,
        'a worker to start the job',
      );
      const runner = f.workers.find((w) => startedBy(w, id).length > 0);
      assert.ok(runner, 'one worker started the job');
      const other = f.workers.find((w) => w !== runner) as ServiceProcess;
      runner.child.kill('SIGKILL');
      await runner.exited;
      const job = await waitForJob(base, id, ended, 60_000);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      assert.equal(startedBy(other, id).length, 1, 'the survivor took the stalled job');
      assert.equal(
        await metricValue(other.url('asr'), 'voice_stack_jobs_finished_total', { status: 'succeeded' }),
        1,
      );
      assert.equal(await metricValue(base, 'voice_stack_jobs', { status: 'succeeded' }), 1, 'one result');
      const result = await request(`${base}${JOBS}/${id}/result?response_format=srt`);
      assert.equal(result.statusCode, 200);
      assert.match(await result.body.text(), /^1\n/);
      await waitForDeliveries(f.receiver, [id]);
      assert.equal(f.receiver.for(id).length, 1, 'one webhook');
    } finally {
      await f.stop();
    }
  });

  it('Redis restarted mid-run (AOF): no job lost or duplicated', async () => {
    const f = await fleet(2, { JOB_LOCK_SECONDS: '15' });
    try {
      const base = f.api.url('asr');
      const speech = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
      const ids: string[] = [];
      for (let i = 0; i < 16; i++) {
        const submitted = await submitJob(base, speech, { webhook_url: f.receiver.url });
        assert.equal(submitted.status, 202);
        ids.push(String(submitted.body.id));
      }
      const deadline = Date.now() + 30_000;
      while ((await metricValue(base, 'voice_stack_jobs', { status: 'succeeded' })) < 3) {
        if (Date.now() > deadline) throw new Error('no job finished');
        await new Promise((r) => setTimeout(r, 20));
      }
      await f.redis.kill();
      const during = await request(`${base}${JOBS}/${ids[0]}`);
      assert.equal(during.statusCode, 503, 'the API says Redis is unreachable while it is down');
      await during.body.dump();
      await new Promise((r) => setTimeout(r, 1000));
      await f.redis.restart();
      for (const id of ids) {
        const job = await waitForJob(base, id, ended, 60_000);
        assert.equal(job.status, 'succeeded', JSON.stringify(job));
      }
      const perWorker = await Promise.all(
        f.workers.map((w) =>
          metricValue(w.url('asr'), 'voice_stack_jobs_finished_total', { status: 'succeeded' }),
        ),
      );
      assert.equal(
        perWorker.reduce((a, b) => a + b, 0),
        ids.length,
        `each job ended once (${perWorker})`,
      );
      assert.equal(await metricValue(base, 'voice_stack_jobs', { status: 'succeeded' }), ids.length);
      await waitForDeliveries(f.receiver, ids);
      for (const id of ids) assert.equal(f.receiver.for(id).length, 1, `one webhook for ${id}`);
    } finally {
      await f.stop();
    }
  });
});
