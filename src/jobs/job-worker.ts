import { hostname } from 'node:os';
import { DelayedError, type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AsrEngine, Transcript } from '../asr/engines/asr-engine.js';
import { transcribeInPieces } from '../asr/transcribe-in-pieces.js';
import { ErrorKinds, errorMessage, isVoiceStackError } from '../core/errors.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import { JobAudioSpool } from './job-audio.js';
import type { JobBackend, TranscriptionJobData } from './job-backend.js';
import { jobKeys } from './job-keys.js';
import type { JobMetrics } from './job-metrics.js';
import { joinPieces } from './job-pieces.js';
import type { JobError, JobRecord } from './job-record.js';
import { type Timeline, timelineNow } from './job-timeline.js';
import { ASR_QUEUE_NAME, BULLMQ_PREFIX, WEBHOOK_QUEUE_NAME } from './queue-names.js';
import { workerConnection } from './redis-connection.js';
import { type WebhookMessage, WebhookSender } from './webhook-delivery.js';

const SAMPLE_RATE = 16_000;
/** How often the worker looks at memory, swap and draining to stop or resume taking jobs. */
const WATCH_MS = 250;
/** A job refused by admission (full, over a threshold) goes back to the queue for this long. */
const RETRY_LATER_MS = 1000;
/** Admission refusals that say "not now", not "never". */
const NOT_NOW = new Set<string>([
  ErrorKinds.queueFull.code,
  ErrorKinds.queueTimeout.code,
  ErrorKinds.resourceThreshold.code,
  ErrorKinds.shuttingDown.code,
]);

type Abort = 'cancelled' | 'shutdown';

/**
 * Consumes transcription jobs with a service's own runtime: the same engine, model slot,
 * admission and resource guard as its HTTP routes. `ASR_MAX_CONCURRENT_REQUESTS` jobs at a
 * time; over the memory threshold (or draining) it stops taking jobs rather than failing
 * them; a job's audio comes from Redis and its result goes back there, ended once.
 */
export class JobWorker {
  readonly id = `${hostname()}:${process.pid}`;
  /** By BullMQ job id (a split job runs as several pieces, perhaps several here). */
  readonly #active = new Map<string, { id: string; controller: AbortController }>();
  readonly #spool = new JobAudioSpool();
  #worker: Worker<TranscriptionJobData> | undefined;
  #webhookWorker: Worker<WebhookMessage> | undefined;
  #webhookSender: WebhookSender | undefined;
  #subscriber: Redis | undefined;
  #watch: NodeJS.Timeout | undefined;
  #paused = false;
  #stopping = false;
  #closing: Promise<boolean> | undefined;

  constructor(
    private readonly runtime: ServiceRuntime<AsrEngine>,
    private readonly backend: JobBackend,
    private readonly metrics: JobMetrics,
    private readonly logger: Logger,
  ) {}

  get isPaused(): boolean {
    return this.#paused;
  }

  async start(): Promise<void> {
    const { settings } = this.backend;
    await this.#spool.open();
    const lockMs = Math.round(settings.lockSeconds * 1000);
    this.#worker = new Worker<TranscriptionJobData>(
      ASR_QUEUE_NAME,
      (job, token, signal) => this.#process(job, token, signal),
      {
        connection: workerConnection(settings.redisUrl, `voice-stack-worker-${process.pid}`),
        prefix: BULLMQ_PREFIX,
        concurrency: this.runtime.serviceSettings.maxConcurrentRequests,
        lockDuration: lockMs,
        stalledInterval: Math.max(500, Math.round(lockMs / 2)),
        // A Redis restart or a few killed workers may stall a job more than once.
        maxStalledCount: 5,
        name: this.id,
      },
    );
    this.#worker.on('error', (error) =>
      this.logger.warn({ event: 'job_worker_error', err: error }, 'job worker error'),
    );
    this.#worker.on('stalled', (jobId) =>
      this.logger.warn({ event: 'job_stalled', jobId }, 'stalled job taken back'),
    );
    if (settings.webhookSecret !== undefined)
      this.#startWebhooks(settings.webhookSecret, settings.webhookAllowPrivate);
    await this.#subscribeToCancels();
    this.#watch = setInterval(() => void this.#watchResources(), WATCH_MS);
    this.#watch.unref();
    this.logger.info(
      {
        event: 'job_worker_started',
        worker: this.id,
        concurrency: this.runtime.serviceSettings.maxConcurrentRequests,
      },
      'job worker started',
    );
  }

  #startWebhooks(secret: string, allowPrivate: boolean): void {
    const sender = new WebhookSender(secret, allowPrivate);
    this.#webhookSender = sender;
    const worker = new Worker<WebhookMessage>(
      WEBHOOK_QUEUE_NAME,
      async (job) => {
        try {
          await sender.deliver(job.data);
          this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
        } catch (error) {
          const last =
            error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
          const outcome = error instanceof UnrecoverableError ? 'refused' : last ? 'failed' : 'retried';
          this.metrics.webhookDeliveries.inc({ outcome });
          this.logger.warn(
            { event: 'webhook_failed', jobId: job.data.id, outcome, err: error },
            'webhook delivery failed',
          );
          throw error;
        }
      },
      {
        connection: workerConnection(this.backend.settings.redisUrl, `voice-stack-webhooks-${process.pid}`),
        prefix: BULLMQ_PREFIX,
        concurrency: 4,
      },
    );
    worker.on('error', (error) =>
      this.logger.warn({ event: 'webhook_worker_error', err: error }, 'webhook worker error'),
    );
    this.#webhookWorker = worker;
  }

  async #subscribeToCancels(): Promise<void> {
    const subscriber = workerConnection(this.backend.settings.redisUrl, `voice-stack-cancels-${process.pid}`);
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, id: string) => this.#abort(id, 'cancelled'));
    // ioredis subscribes again by itself after a reconnect.
    subscriber.subscribe(jobKeys.cancelChannel).catch(() => {});
    this.#subscriber = subscriber;
  }

  #abort(id: string | undefined, reason: Abort): void {
    for (const entry of this.#active.values()) {
      if ((id === undefined || entry.id === id) && !entry.controller.signal.aborted)
        entry.controller.abort(reason);
    }
  }

  async #watchResources(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined || this.#stopping) return;
    const verdict = this.runtime.guard.check();
    const hold = !verdict.ok || this.runtime.admission.isDraining;
    if (hold && !this.#paused) {
      this.#paused = true;
      const why = verdict.ok
        ? { reason: 'draining' }
        : { reason: verdict.resource, percent: Math.round(verdict.percent) };
      this.logger.warn({ event: 'job_worker_paused', ...why }, 'job worker stopped taking jobs');
      await worker.pause(true);
    } else if (!hold && this.#paused) {
      this.#paused = false;
      this.logger.info({ event: 'job_worker_resumed' }, 'job worker takes jobs again');
      worker.resume();
    }
  }

  async #process(job: Job<TranscriptionJobData>, token: string | undefined, bullSignal?: AbortSignal) {
    const { id, piece } = job.data;
    if (job.name === 'assemble') return this.#assemble(id);
    const { store } = this.backend;
    const begun = Date.now();
    const steps: Timeline = { taken: timelineNow() };
    if (!this.runtime.guard.check().ok) {
      // Taken just as the guard tripped: stop taking more, and leave this one to other workers.
      await this.#watchResources();
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const controller = new AbortController();
    const key = job.id ?? id;
    this.#active.set(key, { id, controller });
    try {
      const { started, record, audio } = await store.start(id, this.id, begun, piece ?? 0);
      if (started === 'ended' || record === undefined) return { status: 'ended' };
      steps.started = timelineNow();
      if (started === 'first') this.metrics.queueWait.observe(Math.max(0, begun - record.createdAt) / 1000);
      this.logger.info({ event: 'job_started', jobId: id, piece, attempt: started }, 'job started');
      if (audio === undefined) {
        // A piece done by a worker that was then cut off before BullMQ heard of it.
        if (piece !== undefined && (await store.pieceTranscripts(id)).has(piece)) return { status: 'piece' };
        throw new UnrecoverableError('the job audio is gone from Redis');
      }
      const signals = [controller.signal, ...(bullSignal ? [bullSignal] : [])];
      const transcript = await this.#transcribe(record, audio, AbortSignal.any(signals), piece === undefined);
      this.metrics.audioSeconds.inc(transcript.duration);
      steps.transcribed = timelineNow();
      if (piece === undefined)
        return await this.#end(record, begun, 'succeeded', { result: { transcript } }, steps);
      const done = await store.savePiece(id, piece, transcript);
      if (done === undefined) return { status: 'ended' };
      await store.progress(id, Math.min(0.99, done / record.pieceOffsets.length));
      this.logger.info({ event: 'job_piece_done', jobId: id, piece, done }, 'job piece done');
      return { status: 'piece' };
    } catch (error) {
      return await this.#failed(job, token, id, begun, error, controller.signal);
    } finally {
      this.#active.delete(key);
    }
  }

  /** Every piece of a split job is done (BullMQ starts this only then): join them and end the job. */
  async #assemble(id: string) {
    const { store } = this.backend;
    const record = await store.get(id);
    if (record === undefined || record.finishedAt !== undefined) return { status: 'ended' };
    const transcripts = await store.pieceTranscripts(id);
    const parts = record.pieceOffsets.map((offsetSeconds, k) => ({
      transcript: transcripts.get(k),
      offsetSeconds,
    }));
    const begun = record.startedAt ?? Date.now();
    if (parts.some((p) => p.transcript === undefined)) {
      const error = {
        message: 'Transcription failed: a piece of the job was lost.',
        code: ErrorKinds.internal.code,
      };
      await this.#end(record, begun, 'failed', { error });
      throw new UnrecoverableError(error.message);
    }
    const joined = joinPieces(
      parts.map((p) => ({ transcript: p.transcript as Transcript, offsetSeconds: p.offsetSeconds })),
      record.audioSeconds,
    );
    return this.#end(record, begun, 'succeeded', { result: { transcript: joined } });
  }

  #transcribe(
    record: JobRecord,
    audio: Buffer,
    signal: AbortSignal,
    reportProgress: boolean,
  ): Promise<Transcript> {
    const { request } = record;
    const total = Math.max(1, record.audioSeconds * SAMPLE_RATE);
    // A block's callback comes once the block is read, before it is transcribed: what was
    // read by the previous callback is what is done.
    let read = 0;
    let done = 0;
    const report = () => {
      const fraction = Math.min(0.99, done / total);
      done = read;
      if (reportProgress && fraction > 0)
        void this.backend.store.progress(record.id, fraction).catch(() => {});
    };
    return this.runtime.gate.run(signal, (engine, gateSignal) =>
      this.#spool.withSamples(audio, gateSignal, async (chunks) =>
        transcribeInPieces(
          engine,
          counting(chunks, (n) => {
            read += n;
          }),
          {
            task: request.task,
            language: request.language,
            prompt: request.prompt,
            temperature: request.temperature,
            wordTimestamps: request.words,
            vad: request.vad ?? false,
          },
          gateSignal,
          {
            onEngineCall: () => {
              report();
              this.runtime.metrics.speechGate.inc({ decision: 'speech' });
            },
            onSilentBlock: () => {
              report();
              this.runtime.metrics.speechGate.inc({ decision: 'no_speech' });
            },
          },
        ),
      ),
    );
  }

  async #end(
    record: JobRecord,
    begun: number,
    status: 'succeeded' | 'failed',
    outcome: { result?: { transcript: Transcript }; error?: JobError },
    steps?: Timeline,
  ) {
    const won = await this.backend.store.finish(record.id, status, Date.now(), outcome);
    if (!won) return { status: 'ended' };
    if (steps) steps.finished = timelineNow();
    this.metrics.finished.inc({ status });
    this.metrics.duration.observe({ status }, (Date.now() - begun) / 1000);
    this.logger.info({ event: 'job_finished', jobId: record.id, status, steps }, 'job finished');
    if (record.request.webhookUrl !== undefined) {
      await this.backend.enqueueWebhook({ ...record, status, error: outcome.error });
    }
    return { status };
  }

  async #failed(
    job: Job<TranscriptionJobData>,
    token: string | undefined,
    id: string,
    begun: number,
    error: unknown,
    signal: AbortSignal,
  ) {
    const record = await this.backend.store.get(id);
    if (signal.reason === 'cancelled' || record?.status === 'cancelled') {
      // Counted where the cancel ended the job (JobMetrics.cancelled), not here: a split
      // job's pieces stop on several workers, and the job is one cancellation.
      this.logger.info({ event: 'job_cancelled', jobId: id, piece: job.data.piece }, 'job cancelled');
      return { status: 'cancelled' };
    }
    if (record === undefined || record.finishedAt !== undefined) return { status: 'ended' };
    if (this.#stopping || signal.reason === 'shutdown' || this.runtime.admission.isDraining) {
      // Handed back: another worker (or this one, restarted) takes it from the start.
      this.logger.info({ event: 'job_handed_back', jobId: id }, 'job handed back to the queue');
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (isVoiceStackError(error) && NOT_NOW.has(error.code)) return this.#later(job, token);
    const jobError: JobError = isVoiceStackError(error)
      ? { message: error.message, code: error.code }
      : { message: `Transcription failed: ${errorMessage(error)}`, code: ErrorKinds.internal.code };
    this.logger.warn({ event: 'job_failed', jobId: id, err: error }, 'job failed');
    await this.#end(record, begun, 'failed', { error: jobError });
    throw new UnrecoverableError(jobError.message);
  }

  async #later(job: Job<TranscriptionJobData>, token: string | undefined): Promise<never> {
    await job.moveToDelayed(Date.now() + RETRY_LATER_MS, token);
    throw new DelayedError();
  }

  /**
   * Stops taking jobs; running ones get `graceSeconds` to finish, then their engines are
   * stopped and they go back to the queue. True when every job finished in time.
   */
  close(graceSeconds: number): Promise<boolean> {
    this.#closing ??= this.#close(graceSeconds);
    return this.#closing;
  }

  async #close(graceSeconds: number): Promise<boolean> {
    this.#stopping = true;
    clearInterval(this.#watch);
    let forced = false;
    const timer = setTimeout(() => {
      forced = this.#active.size > 0;
      this.#abort(undefined, 'shutdown');
    }, graceSeconds * 1000);
    try {
      // With Redis gone, BullMQ's close would wait for it forever: past the grace, cut.
      const closed = await settlesWithin(this.#worker?.close(), (graceSeconds + CLOSE_SLACK_SECONDS) * 1000);
      if (!closed) {
        forced = true;
        void this.#worker?.close(true).catch(() => {});
      }
    } finally {
      clearTimeout(timer);
    }
    await settlesWithin(Promise.allSettled([this.#webhookWorker?.close()]), CLOSE_SLACK_SECONDS * 1000);
    this.#subscriber?.disconnect();
    await this.#webhookSender?.close();
    await this.#spool.close();
    await settlesWithin(this.backend.close(), CLOSE_SLACK_SECONDS * 1000);
    return !forced;
  }
}

/** After the grace, how long closing may still wait on Redis before connections are cut. */
const CLOSE_SLACK_SECONDS = 2;

/** True when `pending` settled within `ms`. */
async function settlesWithin(pending: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      (pending ?? Promise.resolve()).then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function* counting(chunks: AsyncIterable<Float32Array>, onSamples: (n: number) => void) {
  for await (const chunk of chunks) {
    onSamples(chunk.length);
    yield chunk;
  }
}
