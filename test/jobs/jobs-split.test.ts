import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { jobKeys } from '../../src/jobs/job-keys.js';
import { JobStore } from '../../src/jobs/job-store.js';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { ServiceProcess } from '../support/service-process.js';
import { ended, eventually, JOBS, metricValue, startWorker, submitJob, waitForJob } from './job-helpers.js';

interface Segment {
  id: number;
  start: number;
  end: number;
  text: string;
  words?: { start: number; end: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const srtSeconds = (t: string) => {
  const [h, m, rest] = t.split(':');
  const [s, ms] = (rest ?? '').split(',');
  return Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(ms) / 1000;
};

describe('long jobs split at silences (JOB_SPLIT_MINUTES) and run on several workers', () => {
  let redis: RedisServer;
  let api: ServiceProcess;
  const workers: ServiceProcess[] = [];
  before(async () => {
    redis = await RedisServer.start();
    const env = { ASR_MODEL: await testWhisperModel(), REDIS_URL: redis.url, JOB_SPLIT_MINUTES: '0.5' };
    api = await ServiceProcess.start(['serve', 'asr'], { ...env, ASR_JOBS_WORKER: 'false' });
    for (let i = 0; i < 2; i++) {
      workers.push(await startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1', ASR_CPU_THREADS: '1' }));
    }
  });
  after(async () => {
    await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
    await redis?.stop();
  });

  it('joins the pieces with offset, monotonic timestamps and renumbered segments; SRT and VTT stay valid', async () => {
    const base = api.url('asr');
    const submitted = await submitJob(base, loopedSpeechWav(120), {
      language: 'en',
      'timestamp_granularities[]': 'word',
    });
    assert.equal(submitted.status, 202);
    const id = String(submitted.body.id);
    const submittedLog = () => api.logs.find((l) => l.event === 'job_submitted' && l.jobId === id);
    // The 202 can arrive before the log line that says how the job was cut.
    await api.waitFor(() => submittedLog() !== undefined, 10_000, 'the job_submitted log line');
    const pieces = Number(submittedLog()?.pieces);
    assert.ok(pieces >= 4, `cut into ${pieces} pieces of at most 30 s`);
    const job = await waitForJob(base, id, ended, 60_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.ok(Math.abs(job.audio_seconds - 120) < 0.1);

    const verbose = (await (
      await request(`${base}${JOBS}/${id}/result?response_format=verbose_json`)
    ).body.json()) as {
      duration: number;
      text: string;
      segments: Segment[];
      words: { start: number; end: number }[];
    };
    assert.ok(Math.abs(verbose.duration - 120) < 0.1);
    const { segments } = verbose;
    assert.deepEqual(
      segments.map((s) => s.id),
      segments.map((_, i) => i),
      'segment ids renumbered 0…n-1',
    );
    for (let i = 1; i < segments.length; i++) {
      const [prev, cur] = [segments[i - 1] as Segment, segments[i] as Segment];
      assert.ok(cur.start >= prev.end, `segment ${i} starts at ${cur.start} before ${prev.end}`);
      assert.ok(cur.end >= cur.start);
    }
    const last = segments[segments.length - 1] as Segment;
    assert.ok(last.end > 90 && last.end <= 120.5, `the last piece is offset: it ends at ${last.end}`);
    assert.equal(verbose.text, segments.map((s) => s.text).join(''));
    for (let i = 1; i < verbose.words.length; i++) {
      assert.ok((verbose.words[i]?.start ?? 0) >= (verbose.words[i - 1]?.start ?? 0), 'words in order');
    }

    const srt = await (await request(`${base}${JOBS}/${id}/result?response_format=srt`)).body.text();
    const cues = srt.trim().split('\n\n');
    let previousEnd = 0;
    cues.forEach((cue, i) => {
      const [index, times] = cue.split('\n');
      assert.equal(index, String(i + 1));
      const [from, to] = (times ?? '').split(' --> ').map(srtSeconds) as [number, number];
      assert.ok(from >= previousEnd && to > from, `cue ${i + 1}: ${times}`);
      previousEnd = to;
    });
    const vtt = await (await request(`${base}${JOBS}/${id}/result?response_format=vtt`)).body.text();
    assert.match(vtt, /^WEBVTT\n\n/);
    assert.equal(vtt.split(' --> ').length - 1, cues.length);

    const piecesDone = () =>
      workers.reduce(
        (n, w) => n + w.logs.filter((l) => l.event === 'job_piece_done' && l.jobId === id).length,
        0,
      );
    await eventually(() => piecesDone() >= pieces, 'the job_piece_done log lines');
    const byWorker = workers.map(
      (w) => w.logs.filter((l) => l.event === 'job_piece_done' && l.jobId === id).length,
    );
    assert.equal(
      byWorker.reduce((a, b) => a + b, 0),
      pieces,
      `every piece done once (${byWorker})`,
    );
    assert.ok(
      byWorker.every((n) => n > 0),
      `both workers took pieces (${byWorker})`,
    );
    const finishedLogs = () =>
      workers.flatMap((w) => w.logs.filter((l) => l.event === 'job_finished' && l.jobId === id));
    await eventually(() => finishedLogs().length > 0, 'the job_finished log line');
    await new Promise((r) => setTimeout(r, 300));
    const finishes = workers.flatMap((w) =>
      w.logs.filter((l) => l.event === 'job_finished' && l.jobId === id),
    );
    assert.equal(finishes.length, 1, 'assembled and ended once');
  });

  it('DELETE on a split job stops every running piece within 1 s, counts one cancellation, and the workers go on', async () => {
    const base = api.url('asr');
    const speechBlocks = (w: ServiceProcess) =>
      metricValue(w.url('asr'), 'voice_stack_speech_gate_total', { decision: 'speech' });
    const everyone = [api, ...workers];
    const cancelledCount = async () =>
      (
        await Promise.all(
          everyone.map((p) =>
            metricValue(p.url('asr'), 'voice_stack_jobs_finished_total', { status: 'cancelled' }),
          ),
        )
      ).reduce((a, b) => a + b, 0);
    const fleetCancelled = () => metricValue(base, 'voice_stack_jobs', { status: 'cancelled' });
    const [blocksBefore, countedBefore, fleetBefore] = await Promise.all([
      Promise.all(workers.map(speechBlocks)),
      cancelledCount(),
      fleetCancelled(),
    ]);

    const submitted = await submitJob(base, loopedSpeechWav(300), { language: 'en' });
    assert.equal(submitted.status, 202);
    const id = String(submitted.body.id);
    // Both workers have a piece in their engine (the speech gate counts a block on its way in).
    const deadline = Date.now() + 30_000;
    while ((await Promise.all(workers.map(speechBlocks))).some((n, i) => n <= (blocksBefore[i] ?? 0))) {
      if (Date.now() > deadline) throw new Error('the two workers never both ran a piece');
      await sleep(20);
    }
    await sleep(300);
    const cancelledAt = Date.now();
    const cancel = await request(`${base}${JOBS}/${id}`, { method: 'DELETE' });
    assert.equal(cancel.statusCode, 200);
    assert.equal(((await cancel.body.json()) as { status: string }).status, 'cancelled');
    const peek = redis.client();
    try {
      // The pieces no worker held are gone from BullMQ's wait list (admission's and KEDA's backlog).
      const waiting = await peek.lrange('bull:asr-transcriptions:wait', 0, -1);
      assert.deepEqual(
        waiting.filter((j) => j.startsWith(`${id}-p`)),
        [],
        'waiting pieces removed by the cancel',
      );
    } finally {
      peek.disconnect();
    }

    const stops = (w: ServiceProcess) => w.logs.filter((l) => l.event === 'job_cancelled' && l.jobId === id);
    await eventually(
      () => workers.every((w) => stops(w).length > 0),
      'each worker stopping its piece',
      10_000,
    );
    for (const [i, w] of workers.entries()) {
      const stoppedIn = Number(stops(w)[0]?.time) - cancelledAt;
      console.log(`worker ${i}: piece ${stops(w)[0]?.piece} stopped ${stoppedIn} ms after the DELETE`);
      assert.ok(stoppedIn < 1000, `worker ${i} stopped its engine ${stoppedIn} ms after the DELETE`);
    }
    assert.equal((await waitForJob(base, id, ended)).status, 'cancelled');

    // The pieces still queued are taken, seen ended and dropped; the workers then run new jobs.
    const sentence = speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech');
    const next = await Promise.all([submitJob(base, sentence), submitJob(base, sentence)]);
    for (const n of next) {
      const done = await waitForJob(base, String(n.body.id), ended, 60_000);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
    }
    const client = redis.client();
    try {
      // BullMQ ran the flow's assemble job (it starts once every piece is through): nothing waits.
      for (const until = Date.now() + 30_000; ; await sleep(50)) {
        if ((await client.zscore('bull:asr-transcriptions:completed', id)) !== null) break;
        if (Date.now() > until) throw new Error('the assemble job never ran');
      }
      assert.equal(await client.llen('bull:asr-transcriptions:wait'), 0);
      const keys = ['audio', 'pieces', 'result'].map((k) => `voice-stack:asr-jobs:${id}:${k}`);
      assert.equal(await client.exists(...keys), 0, 'no audio, piece transcripts or result left behind');
    } finally {
      client.disconnect();
    }
    await sleep(300);
    const late = workers.flatMap((w) =>
      w.logs.filter(
        (l) =>
          l.jobId === id &&
          ((l.event === 'job_piece_done' && Number(l.time) > cancelledAt + 1000) ||
            l.event === 'job_finished'),
      ),
    );
    assert.deepEqual(late, [], 'no piece finished after the cancel, and the job was not assembled');
    assert.equal(
      (await cancelledCount()) - countedBefore,
      1,
      'voice_stack_jobs_finished_total: one cancellation',
    );
    assert.equal((await fleetCancelled()) - fleetBefore, 1, 'voice_stack_jobs{status="cancelled"}: one');
  });

  it('a piece that finishes after its job ended keeps nothing (no pieces hash that nothing would delete)', async () => {
    const client = redis.client();
    try {
      const store = new JobStore(client, 1);
      const id = randomUUID();
      const piece = (offsetSeconds: number) => ({ data: Buffer.from('pcm'), offsetSeconds, seconds: 1 });
      const request = {
        task: 'transcribe' as const,
        language: 'en',
        prompt: undefined,
        temperature: 0,
        words: false,
        responseFormat: 'json' as const,
        webhookUrl: undefined,
        metadata: undefined,
        resultUrl: '',
      };
      await store.create(id, request, { pieces: [piece(0), piece(1)], seconds: 2 }, Date.now());
      const transcript = { language: 'en', duration: 1, text: ' a', segments: [] };
      assert.equal(await store.savePiece(id, 0, transcript), 1);
      assert.equal(await store.finish(id, 'cancelled', Date.now()), true);
      assert.equal(await store.savePiece(id, 1, transcript), undefined, 'the late piece is dropped');
      assert.equal(await client.exists(jobKeys.pieces(id), jobKeys.audio(id)), 0);
      assert.ok((await client.ttl(jobKeys.record(id))) > 0, 'the record expires with its retention');
    } finally {
      client.disconnect();
    }
  });
});
