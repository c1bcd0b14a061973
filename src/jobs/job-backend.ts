import { FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobSettings } from '../core/settings.js';
import { jobKeys } from './job-keys.js';
import type { PiecedAudio } from './job-pieces.js';
import { isFinished, type JobRecord, type JobRequest } from './job-record.js';
import { JobStore } from './job-store.js';
import { ASR_QUEUE_NAME, ASR_WAIT_LIST_KEY, BULLMQ_PREFIX, WEBHOOK_QUEUE_NAME } from './queue-names.js';
import { apiConnection, redisUnreachableError, workerConnection } from './redis-connection.js';
import type { WebhookMessage } from './webhook-delivery.js';

export interface TranscriptionJobData {
  readonly id: string;
  /** Set on the pieces of a split job. */
  readonly piece?: number;
}

export function pieceJobId(id: string, piece: number): string {
  return `${id}-p${piece}`;
}

/**
 * The jobs' shared state: Voice Stack's records (JobStore) and the two BullMQ queues that
 * schedule transcriptions and webhook deliveries. API nodes connect failing fast, workers
 * connect waiting out a Redis restart.
 */
export class JobBackend {
  readonly store: JobStore;
  readonly transcriptions: Queue<TranscriptionJobData>;
  readonly webhooks: Queue<WebhookMessage>;
  readonly #flows: FlowProducer;
  #lastError: unknown;
  #closed = false;

  private constructor(
    readonly redis: Redis,
    readonly settings: JobSettings & { redisUrl: string },
  ) {
    redis.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    redis.on('ready', () => {
      this.#lastError = undefined;
    });
    const retentionSeconds = Math.max(1, Math.round(settings.retentionHours * 3600));
    const removal = { age: retentionSeconds };
    this.store = new JobStore(redis, settings.retentionHours);
    this.transcriptions = new Queue(ASR_QUEUE_NAME, {
      connection: redis,
      prefix: BULLMQ_PREFIX,
      defaultJobOptions: { attempts: 1, removeOnComplete: removal, removeOnFail: removal },
    });
    this.webhooks = new Queue(WEBHOOK_QUEUE_NAME, {
      connection: redis,
      prefix: BULLMQ_PREFIX,
      defaultJobOptions: {
        attempts: settings.webhookMaxAttempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: removal,
        removeOnFail: removal,
      },
    });
    this.#flows = new FlowProducer({ connection: redis, prefix: BULLMQ_PREFIX });
    this.#flows.on('error', () => {});
    // Errors are the connection's: the routes answer 503 for them, nothing to crash on.
    this.transcriptions.on('error', () => {});
    this.webhooks.on('error', () => {});
  }

  static connect(settings: JobSettings & { redisUrl: string }, role: 'api' | 'worker'): JobBackend {
    const name = `voice-stack-${role}-${process.pid}`;
    const redis =
      role === 'api' ? apiConnection(settings.redisUrl, name) : workerConnection(settings.redisUrl, name);
    return new JobBackend(redis, settings);
  }

  /** Throws the 503 naming Redis when it cannot be reached now. */
  assertReachable(): void {
    if (this.redis.status !== 'ready') throw redisUnreachableError(this.settings.redisUrl, this.#lastError);
  }

  /** Runs a Redis operation, turning a connection failure into the 503 naming Redis. */
  async call<T>(operation: () => Promise<T>): Promise<T> {
    this.assertReachable();
    try {
      return await operation();
    } catch (error) {
      if (this.redis.status !== 'ready' || isConnectionError(error))
        throw redisUnreachableError(this.settings.redisUrl, error);
      throw error;
    }
  }

  async submit(id: string, request: JobRequest, audio: PiecedAudio): Promise<JobRecord> {
    const record = await this.store.create(id, request, audio, Date.now());
    try {
      if (audio.pieces.length === 1) await this.transcriptions.add('transcribe', { id }, { jobId: id });
      else await this.#addSplit(id, audio.pieces.length);
    } catch (error) {
      await this.store.discard(id).catch(() => {});
      throw error;
    }
    return record;
  }

  /**
   * A BullMQ flow: one `piece` job per piece, which free workers take in parallel, under an
   * `assemble` job that BullMQ starts once every piece is done (and fails with any piece).
   */
  async #addSplit(id: string, count: number): Promise<void> {
    const retention = { age: Math.max(1, Math.round(this.settings.retentionHours * 3600)) };
    const removal = { removeOnComplete: retention, removeOnFail: retention };
    await this.#flows.add({
      name: 'assemble',
      queueName: ASR_QUEUE_NAME,
      data: { id },
      opts: { jobId: id, ...removal },
      children: Array.from({ length: count }, (_, piece) => ({
        name: 'piece',
        queueName: ASR_QUEUE_NAME,
        data: { id, piece },
        opts: { jobId: pieceJobId(id, piece), failParentOnFailure: true, ...removal },
      })),
    });
  }

  queuePosition(record: JobRecord): Promise<number | undefined> {
    const first = record.pieceOffsets.length > 1 ? pieceJobId(record.id, 0) : record.id;
    return this.store.queuePosition(ASR_WAIT_LIST_KEY, first);
  }

  /**
   * Cancels a job that has not ended; the worker running it (if any) hears it and aborts its
   * engine. `ended` is true when this call ended the job (not a worker or an earlier DELETE
   * first): the caller counts the cancellation, once for the job however many pieces ran.
   */
  async cancel(record: JobRecord): Promise<{ record: JobRecord | undefined; ended: boolean }> {
    if (isFinished(record.status)) return { record, ended: false };
    // An active job is locked by its worker and cannot be removed: the worker ends it.
    const split = record.pieceOffsets.length > 1;
    const job = split ? undefined : await this.transcriptions.getJob(record.id);
    await job?.remove().catch(() => {});
    const ended = await this.store.finish(record.id, 'cancelled', Date.now());
    await this.redis.publish(jobKeys.cancelChannel, record.id);
    if (split) await this.#removeWaitingPieces(record);
    return { record: await this.store.get(record.id), ended };
  }

  /**
   * A cancelled split job's pieces that no worker holds yet: removed, rather than left for
   * workers to take and drop, counted meanwhile as backlog by admission and by KEDA's
   * trigger. After the finish, so a piece taken in between sees the job ended. BullMQ
   * starts the `assemble` job once the last piece is gone or done; it finds the job ended.
   */
  async #removeWaitingPieces(record: JobRecord): Promise<void> {
    await Promise.all(
      record.pieceOffsets.map(async (_, piece) => {
        const job = await this.transcriptions.getJob(pieceJobId(record.id, piece));
        // A piece a worker took meanwhile is locked: removing it fails, and its worker stops it.
        if (job !== undefined && (await job.isWaiting())) await job.remove().catch(() => {});
      }),
    );
  }

  /** Queues the job's webhook once: a second call for the same job (another worker) is a no-op. */
  async enqueueWebhook(record: JobRecord): Promise<void> {
    const url = record.request.webhookUrl;
    if (url === undefined) return;
    const body: Record<string, unknown> = {
      id: record.id,
      status: record.status,
      result_url: record.request.resultUrl,
    };
    if (record.error) body.error = record.error;
    if (record.request.metadata !== undefined) body.metadata = JSON.parse(record.request.metadata);
    await this.webhooks.add(
      'deliver',
      { id: record.id, url, body: JSON.stringify(body) },
      { jobId: record.id },
    );
  }

  /** Queued and running now (BullMQ's counts), ended so far (Voice Stack's). */
  async jobCounts(): Promise<Record<string, number>> {
    const [counts, finished] = await Promise.all([
      this.transcriptions.getJobCounts('wait', 'delayed', 'prioritized', 'active'),
      this.store.finishedCounts(),
    ]);
    const queued = (counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
    return { queued, running: counts.active ?? 0, ...finished };
  }

  workersSeen(): Promise<number> {
    return this.transcriptions.getWorkersCount();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Closing waits on Redis; an unreachable one must not hold a shutdown.
    const closing = Promise.allSettled([
      this.transcriptions.close(),
      this.webhooks.close(),
      this.#flows.close(),
    ]);
    if (this.redis.status === 'ready') await closing;
    this.redis.disconnect();
  }
}

function isConnectionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|Stream isn't writeable|Command timed out|max retries/i.test(
    message,
  );
}
