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

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('job webhooks (Standard Webhooks signatures, retries, private targets)', () => {
  let redis: RedisServer;
  let server: ServiceProcess;
  let receiver: WebhookReceiver;
  let base: string;
  let speech: string;
  before(async () => {
    redis = await RedisServer.start();
    receiver = await WebhookReceiver.start();
    speech = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      REDIS_URL: redis.url,
      WEBHOOK_SECRET,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    base = server.url('asr');
  });
  after(async () => {
    await server?.stop();
    await receiver?.close();
    await redis?.stop();
  });

  it('posts {id, status, result_url} once, signed so the receiver can verify it', async () => {
    const submitted = await submitJob(base, speech, {
      webhook_url: receiver.url,
      metadata: JSON.stringify({ ref: 7 }),
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = String(submitted.body.id);
    const job = await waitForJob(base, id, ended);
    assert.equal(job.status, 'succeeded');
    await waitFor(() => receiver.for(id).length > 0, 15_000, 'the webhook');
    await new Promise((r) => setTimeout(r, 500));
    const deliveries = receiver.for(id);
    assert.equal(deliveries.length, 1);
    const [delivery] = deliveries;
    assert.ok(delivery?.verified, 'signature verified against WEBHOOK_SECRET');
    assert.equal(delivery?.headers['webhook-id'], id);
    assert.deepEqual(JSON.parse(delivery?.body ?? '{}'), {
      id,
      status: 'succeeded',
      result_url: job.result_url,
      metadata: { ref: 7 },
    });
  });

  it('a receiver that fails twice gets it on the third try, with the same webhook-id', async () => {
    receiver.failures = [500, 503];
    const submitted = await submitJob(base, speech, { webhook_url: receiver.url });
    const id = String(submitted.body.id);
    await waitFor(() => receiver.for(id).length >= 3, 20_000, 'three attempts');
    await new Promise((r) => setTimeout(r, 1500));
    const deliveries = receiver.for(id);
    assert.equal(deliveries.length, 3, 'two failures, one success, nothing after it');
    assert.ok(deliveries.every((d) => d.verified && d.headers['webhook-id'] === id));
    assert.ok((await metricValue(base, 'voice_stack_webhook_deliveries_total', { outcome: 'retried' })) >= 2);
    assert.ok(
      (await metricValue(base, 'voice_stack_webhook_deliveries_total', { outcome: 'delivered' })) >= 2,
    );
  });
});

describe('the webhook of a failed job', () => {
  let redis: RedisServer;
  let receiver: WebhookReceiver;
  const processes: ServiceProcess[] = [];
  before(async () => {
    redis = await RedisServer.start();
    receiver = await WebhookReceiver.start();
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await receiver?.close();
    await redis?.stop();
  });

  it('posts {id, status: "failed", result_url, error} once, signed, though two workers could take it', async () => {
    const env = {
      ASR_MODEL: await testWhisperModel(),
      REDIS_URL: redis.url,
      WEBHOOK_SECRET,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    const api = await ServiceProcess.start(['serve', 'asr'], { ...env, ASR_JOBS_WORKER: 'false' });
    processes.push(api);
    const base = api.url('asr');
    const speech = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    const submitted = await submitJob(base, speech, { webhook_url: receiver.url });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = String(submitted.body.id);
    // What the worker is handed is not audio (as if it had been damaged in storage): its
    // decoder fails, so the job fails on the worker, after it was accepted.
    const client = redis.client();
    try {
      assert.equal(await client.hset(`voice-stack:asr-jobs:${id}:audio`, '0', 'not audio at all'), 0);
    } finally {
      client.disconnect();
    }
    for (let i = 0; i < 2; i++) {
      processes.push(await startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_CPU_THREADS: '1' }));
    }
    const job = await waitForJob(base, id, ended, 30_000);
    assert.equal(job.status, 'failed', JSON.stringify(job));
    assert.equal(job.error?.code, 'VS_ERR_AUDIO_DECODE', JSON.stringify(job.error));
    assert.match(job.error?.message ?? '', /^Could not decode audio/);

    await waitFor(() => receiver.for(id).length > 0, 15_000, 'the webhook');
    await new Promise((r) => setTimeout(r, 1500));
    const deliveries = receiver.for(id);
    assert.equal(deliveries.length, 1, 'delivered once');
    const [delivery] = deliveries;
    assert.ok(delivery?.verified, 'signature verified against WEBHOOK_SECRET');
    assert.equal(delivery?.headers['webhook-id'], id);
    assert.deepEqual(JSON.parse(delivery?.body ?? '{}'), {
      id,
      status: 'failed',
      result_url: job.result_url,
      error: job.error,
    });
    const result = await request(`${base}${JOBS}/${id}/result`);
    assert.equal(result.statusCode, 409);
    assert.match(await result.body.text(), /has no result \(status: failed\)/);
  });
});

describe('private webhook targets', () => {
  it('are refused at submission unless WEBHOOK_ALLOW_PRIVATE=true', async () => {
    const redis = await RedisServer.start();
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      REDIS_URL: redis.url,
      WEBHOOK_SECRET,
    });
    try {
      const speech = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
      for (const target of [
        'http://127.0.0.1:9/hook',
        'http://localhost/hook',
        'http://10.1.2.3/x',
        'http://[::1]/x',
      ]) {
        const r = await submitJob(server.url('asr'), speech, { webhook_url: target });
        assert.equal(r.status, 400, target);
        assert.match(JSON.stringify(r.body), /webhook_url.*WEBHOOK_ALLOW_PRIVATE/);
      }
      const notHttp = await submitJob(server.url('asr'), speech, { webhook_url: 'file:///etc/passwd' });
      assert.equal(notHttp.status, 400);
      assert.equal(await metricValue(server.url('asr'), 'voice_stack_jobs_submitted_total'), 0);
    } finally {
      await server.stop();
      await redis.stop();
    }
  });
});
