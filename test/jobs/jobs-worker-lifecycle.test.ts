import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import { ended, eventually, getJob, metricValue, startWorker, submitJob, waitForJob } from './job-helpers.js';

const started = (worker: ServiceProcess, id: string) =>
  worker.logs.filter((l) => l.event === 'job_started' && l.jobId === id);

describe('worker lifecycle: SIGTERM, hand-back, memory threshold', () => {
  let redis: RedisServer;
  let api: ServiceProcess;
  let env: Record<string, string>;
  const workers: ServiceProcess[] = [];
  const worker = async (extra: Record<string, string> = {}) => {
    const w = await startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_CPU_THREADS: '1', ...extra });
    workers.push(w);
    return w;
  };
  before(async () => {
    redis = await RedisServer.start();
    env = { ASR_MODEL: await testWhisperModel(), REDIS_URL: redis.url };
    api = await ServiceProcess.start(['serve', 'asr'], { ...env, ASR_JOBS_WORKER: 'false' });
  });
  after(async () => {
    await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
    await redis?.stop();
  });

  it('SIGTERM lets the running job finish within the grace, then exits 0', async () => {
    const w = await worker({ SHUTDOWN_GRACE_SECONDS: '60' });
    const base = api.url('asr');
    const job = await submitJob(base, loopedSpeechWav(120), { language: 'en' });
    const id = String(job.body.id);
    await waitForJob(base, id, (j) => j.status === 'running');
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    assert.equal((await getJob(base, id)).status, 'succeeded');
  });

  it('past the grace, SIGTERM hands the job back and another worker completes it', async () => {
    const base = api.url('asr');
    const first = await worker({ SHUTDOWN_GRACE_SECONDS: '0.5' });
    const job = await submitJob(base, loopedSpeechWav(120), { language: 'en' });
    const id = String(job.body.id);
    await waitForJob(base, id, (j) => j.status === 'running');
    const second = await worker();
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 1, 'exit 1: the grace forced it');
    await eventually(
      () => first.logs.some((l) => l.event === 'job_handed_back' && l.jobId === id),
      'the job_handed_back log line',
    );
    const done = await waitForJob(base, id, ended, 60_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(started(second, id).length, 1, 'the other worker took it at once');
    assert.equal(
      await metricValue(second.url('asr'), 'voice_stack_jobs_finished_total', { status: 'succeeded' }),
      1,
    );
  });

  it('a worker over the memory threshold stops taking jobs instead of failing them', async () => {
    const base = api.url('asr');
    await Promise.all(workers.map((w) => w.stop()));
    const full = await worker({ MEMORY_THRESHOLD_PERCENT: '1' });
    await full.waitFor(() => full.logs.some((l) => l.event === 'job_worker_paused'), 10_000, 'the pause');
    const job = await submitJob(
      base,
      speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
    );
    const id = String(job.body.id);
    await new Promise((r) => setTimeout(r, 1500));
    const waiting = await getJob(base, id);
    assert.equal(waiting.status, 'queued', 'not failed, not taken');
    assert.equal(waiting.queue_position, 1);
    const healthy = await worker();
    const done = await waitForJob(base, id, ended, 30_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(started(healthy, id).length, 1);
    assert.equal(started(full, id).length, 0);
  });
});
