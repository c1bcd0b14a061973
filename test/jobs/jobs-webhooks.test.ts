import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import { ended, metricValue, submitJob, WEBHOOK_SECRET, WebhookReceiver, waitForJob } from './job-helpers.js';

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
