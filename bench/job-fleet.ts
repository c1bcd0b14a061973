/**
 * The job fleet, measured in one run on one Redis:
 * 1. a long file (60 minutes by default) as one job, split at JOB_SPLIT_MINUTES, on 1, 2
 *    and 4 single-threaded workers: wall time from submission to `succeeded`, and the
 *    speed-up over one worker (on a machine with fewer cores than workers, cores bound it);
 * 2. the latency a synchronous request gains when ASR_DISPATCH=queue sends it through
 *    Redis to a worker, against the same request served locally (same model, same threads).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { FormData, request } from 'undici';
import { ended, startWorker, submitJob, waitForJob } from '../test/jobs/job-helpers.js';
import { loopedSpeechWav, speechWav, testWhisperModel } from '../test/support/fixtures.js';
import { RedisServer } from '../test/support/redis-server.js';
import { ServiceProcess } from '../test/support/service-process.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'split-minutes': { type: 'string', default: '10' },
    workers: { type: 'string', default: '1,2,4' },
    'sync-requests': { type: 'string', default: '20' },
    // `always` (the tests' Redis) makes every write wait for the disk; the shipped redis.conf says everysec.
    fsync: { type: 'string', default: 'everysec' },
  },
});
const minutes = Number(values.minutes);
const workerCounts = String(values.workers).split(',').map(Number);
const syncRequests = Number(values['sync-requests']);

const model = await testWhisperModel();
const base = { ASR_MODEL: model, ASR_CPU_THREADS: '1', LOG_LEVEL: 'info' };

async function longFile(redis: RedisServer): Promise<void> {
  const file = loopedSpeechWav(minutes * 60);
  const env = { ...base, REDIS_URL: redis.url, JOB_SPLIT_MINUTES: String(values['split-minutes']) };
  const api = await ServiceProcess.start(['serve', 'asr'], {
    ...env,
    ASR_JOBS_WORKER: 'false',
    LOG_LEVEL: 'info',
  });
  const rows: { workers: number; seconds: number }[] = [];
  try {
    for (const count of workerCounts) {
      const workers = await Promise.all(
        Array.from({ length: count }, () => startWorker({ ...env, ASR_MAX_CONCURRENT_REQUESTS: '1' })),
      );
      try {
        const started = performance.now();
        const submitted = await submitJob(api.url('asr'), file, { language: 'en' });
        const job = await waitForJob(api.url('asr'), String(submitted.body.id), ended, 3_600_000);
        if (job.status !== 'succeeded') throw new Error(`job ${job.status}: ${JSON.stringify(job.error)}`);
        rows.push({ workers: count, seconds: (performance.now() - started) / 1000 });
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }
  } finally {
    await api.stop();
  }
  const one = rows[0]?.seconds ?? Number.NaN;
  process.stdout.write(
    `\n${minutes}-minute file, pieces of ${values['split-minutes']} min, single-threaded workers ` +
      `(${availableParallelism()} cores here):\n`,
  );
  for (const row of rows) {
    process.stdout.write(
      `  ${row.workers} worker(s): ${row.seconds.toFixed(1)} s wall, speed-up ${(one / row.seconds).toFixed(2)}×\n`,
    );
  }
  const cores = availableParallelism();
  if (workerCounts.some((n) => n > cores)) {
    process.stdout.write(`  (beyond ${cores} workers the cores, not the workers, bound the speed-up)\n`);
  }
}

const now = () => performance.timeOrigin + performance.now();

/** Sent and answered, in ms since the epoch (comparable with the services' log timelines). */
async function post(url: string, data: Buffer): Promise<{ sent: number; answered: number }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), 'a.wav');
  const sent = now();
  const response = await request(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
  return { sent, answered: now() };
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/**
 * One dispatched request's way, step by step, from the API node's `dispatched_job_ended`
 * (debug) and the worker's `job_finished` timelines: what the queue adds is everything but
 * `transcribe`, less the decoding a local request does too.
 */
const STEPS = [
  ['admit + upload', 'sent', 'received'],
  ['decode (local does it too)', 'received', 'encoded'],
  ['submit (record + BullMQ add)', 'encoded', 'submitted'],
  ['worker takes the job', 'submitted', 'taken'],
  ['start + fetch audio', 'taken', 'started'],
  ['transcribe', 'started', 'transcribed'],
  ['store result (finish script)', 'transcribed', 'finished'],
  ['API node hears it ended', 'finished', 'ended'],
  ['answer', 'ended', 'answered'],
] as const;

function timelines(
  api: ServiceProcess,
  worker: ServiceProcess,
  requests: { sent: number; answered: number }[],
): Record<string, number>[] {
  const ended = api.logs.filter((l) => l.event === 'dispatched_job_ended');
  const finished = new Map(
    worker.logs.filter((l) => l.event === 'job_finished').map((l) => [String(l.jobId), l.steps]),
  );
  // The measured requests are the last ones, in order.
  return ended.slice(-requests.length).map((line, i) => ({
    ...(line.steps as Record<string, number>),
    ...(finished.get(String(line.jobId)) as Record<string, number> | undefined),
    ...requests[i],
  }));
}

async function dispatchLatency(redis: RedisServer): Promise<void> {
  const speech = readFileSync(
    speechWav('Testing one two three. The service transcribes this sentence.', 'asr-speech'),
  );
  const one = { ...base, ASR_MAX_CONCURRENT_REQUESTS: '1' };
  const local = await ServiceProcess.start(['serve', 'asr'], one);
  const api = await ServiceProcess.start(['serve', 'asr'], {
    ...one,
    REDIS_URL: redis.url,
    ASR_JOBS_WORKER: 'false',
    ASR_DISPATCH: 'queue',
    LOG_LEVEL: 'debug',
  });
  const worker = await startWorker({ ...one, REDIS_URL: redis.url });
  try {
    await post(local.url('asr'), speech);
    await post(api.url('asr'), speech);
    const here: number[] = [];
    const queued: { sent: number; answered: number }[] = [];
    // Interleaved, so drift in the machine's load falls on both alike.
    for (let i = 0; i < syncRequests; i++) {
      const l = await post(local.url('asr'), speech);
      here.push(l.answered - l.sent);
      queued.push(await post(api.url('asr'), speech));
    }
    const took = queued.map((q) => q.answered - q.sent);
    const [h, q] = [median(here), median(took)];
    const paired = median(took.map((t, i) => t - (here[i] ?? Number.NaN)));
    process.stdout.write(
      `\nsynchronous request (${speech.length} B WAV), median of ${syncRequests}: local ${h.toFixed(1)} ms, ` +
        `through the queue ${q.toFixed(1)} ms: ${signed(q - h)} ms (${signed((100 * (q - h)) / h)}%); ` +
        `median of the pairs' differences ${signed(paired)} ms; target: under 5% or 50 ms\n`,
    );
    await new Promise((r) => setTimeout(r, 500));
    const lines = timelines(api, worker, queued);
    if (
      lines.length === syncRequests &&
      lines.every((t) => t.received !== undefined && t.taken !== undefined)
    ) {
      process.stdout.write('  where a dispatched request spends its time (medians):\n');
      for (const [what, from, to] of STEPS) {
        const spans = lines.map((t) => (t[to] ?? Number.NaN) - (t[from] ?? Number.NaN));
        process.stdout.write(`    ${what.padEnd(30)} ${median(spans).toFixed(1).padStart(7)} ms\n`);
      }
    }
  } finally {
    await Promise.all([local.stop(), api.stop(), worker.stop()]);
  }
}

const fsync = values.fsync === 'always' ? 'always' : 'everysec';
const redis = await RedisServer.start({ appendfsync: fsync });
process.stdout.write(`Redis with appendfsync ${fsync}\n`);
try {
  await dispatchLatency(redis);
  await longFile(redis);
} finally {
  await redis.stop();
}
