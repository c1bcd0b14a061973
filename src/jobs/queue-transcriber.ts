import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TranscribeOptions, Transcript } from '../asr/engines/asr-engine.js';
import type { RemoteTranscriber } from '../asr/remote-transcriber.js';
import { decodeSpooledAudio, type SpooledAudio } from '../audio/decode-stream.js';
import { clientClosedError, ErrorKinds, queueFullError, VoiceStackError } from '../core/errors.js';
import type { JobBackend } from './job-backend.js';
import { jobKeys } from './job-keys.js';
import type { JobMetrics } from './job-metrics.js';
import { encodeJobPieces } from './job-pieces.js';
import type { JobRecord } from './job-record.js';
import type { StoredResult } from './job-store.js';
import { type Timeline, timelineNow } from './job-timeline.js';
import { workerConnection } from './redis-connection.js';

/** A missed "ended" message (a Redis restart) costs at most this long. */
const POLL_MS = 2000;
const THROUGHPUT_WINDOW_MS = 120_000;
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/**
 * ASR_DISPATCH=queue: a synchronous request becomes a job on the fleet's queue and its
 * HTTP request waits for it, answering exactly as a local transcription would; a client
 * that goes away cancels the job. Admission counts the fleet's shared backlog.
 */
export class QueueTranscriber implements RemoteTranscriber {
  readonly #waiters = new Map<string, () => void>();
  readonly #subscriber: Redis;
  #samples: { at: number; total: number }[] = [];
  #lastSample = 0;

  constructor(
    private readonly backend: JobBackend,
    private readonly limits: { maxQueueSize: number; maxAudioSeconds: number; splitSeconds: number },
    private readonly metrics: JobMetrics,
    private readonly logger: Logger,
  ) {
    this.#subscriber = workerConnection(backend.settings.redisUrl, `voice-stack-dispatch-${process.pid}`);
    this.#subscriber.on('error', () => {});
    this.#subscriber.on('message', (_channel: string, id: string) => this.#waiters.get(id)?.());
    this.#subscriber.subscribe(jobKeys.endedChannel).catch(() => {});
  }

  async admit(): Promise<void> {
    const backlog = await this.backend.call(async () => {
      // Sent together: one round trip on the connection, not two.
      const [, counts] = await Promise.all([
        this.#sampleThroughput(),
        this.backend.transcriptions.getJobCounts('wait', 'delayed', 'prioritized'),
      ]);
      return (counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
    });
    if (backlog >= this.limits.maxQueueSize) throw queueFullError(this.#retryAfterSeconds(backlog));
  }

  async transcribe(
    audio: SpooledAudio,
    options: TranscribeOptions,
    signal: AbortSignal,
  ): Promise<Transcript> {
    const steps: Timeline = { received: timelineNow() };
    const samples = decodeSpooledAudio(audio, { signal, maxSeconds: this.limits.maxAudioSeconds });
    // A short clip travels as its float samples: nothing to compress here or decode there.
    const encoded = await encodeJobPieces(samples, signal, this.limits.splitSeconds, 'float');
    steps.encoded = timelineNow();
    const id = randomUUID();
    const ended = this.#waitFor(id);
    try {
      const record = await this.backend.call(() =>
        this.backend.submit(
          id,
          {
            task: options.task,
            language: options.language,
            prompt: options.prompt,
            temperature: options.temperature ?? 0,
            words: options.wordTimestamps,
            vad: options.vad,
            responseFormat: 'verbose_json',
            webhookUrl: undefined,
            metadata: undefined,
            resultUrl: '',
            dispatched: true,
          },
          encoded,
        ),
      );
      steps.submitted = timelineNow();
      this.logger.debug(
        { event: 'job_dispatched', jobId: id, audioSeconds: encoded.seconds },
        'request dispatched',
      );
      const final = await this.#untilEnded(record, ended.promise, signal);
      steps.ended = timelineNow();
      this.logger.debug(
        { event: 'dispatched_job_ended', jobId: id, status: final.record.status, steps },
        'dispatched job ended',
      );
      // Answered: nobody asks for it again (not waited for: the answer need not).
      this.backend.store.discard(id).catch(() => {});
      return answer(final.record, final.result);
    } finally {
      ended.dispose();
    }
  }

  #waitFor(id: string) {
    let wake: () => void = () => {};
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
    });
    this.#waiters.set(id, wake);
    return { promise, dispose: () => this.#waiters.delete(id) };
  }

  async #untilEnded(
    record: JobRecord,
    ended: Promise<void>,
    signal: AbortSignal,
  ): Promise<{ record: JobRecord; result?: StoredResult }> {
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal.aborted) resolve('aborted');
      signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    while (true) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => {
        timer = setTimeout(() => resolve('tick'), POLL_MS);
      });
      const why = await Promise.race([ended.then(() => 'ended' as const), aborted, tick]);
      clearTimeout(timer);
      if (why === 'aborted') {
        const cancel = await this.backend.cancel(record).catch(() => undefined);
        if (cancel?.ended) this.metrics.cancelled(record, Date.now());
        this.logger.info(
          { event: 'dispatched_job_cancelled', jobId: record.id },
          'client left: job cancelled',
        );
        throw clientClosedError();
      }
      const now = await this.backend.store.ended(record.id).catch(() => undefined);
      if (now?.record?.finishedAt !== undefined) return { record: now.record, result: now.result };
      if (why === 'ended' && now !== undefined && now.record === undefined)
        throw new Error('the dispatched job vanished');
    }
  }

  /** Jobs the fleet ends per second, over the last two minutes, from Redis' shared counts. */
  async #sampleThroughput(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastSample < 1000) return;
    this.#lastSample = now;
    const counts = await this.backend.store.finishedCounts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    this.#samples.push({ at: now, total });
    this.#samples = this.#samples.filter((s) => now - s.at <= THROUGHPUT_WINDOW_MS);
  }

  #retryAfterSeconds(backlog: number): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.at === first.at) return DEFAULT_RETRY_AFTER_SECONDS;
    const perSecond = (last.total - first.total) / ((last.at - first.at) / 1000);
    if (!(perSecond > 0)) return DEFAULT_RETRY_AFTER_SECONDS;
    return Math.min(3600, Math.max(1, Math.ceil((backlog + 1) / perSecond)));
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
  }
}

function answer(record: JobRecord, result: StoredResult | undefined): Transcript {
  if (record.status === 'succeeded') {
    if (result === undefined) throw new Error('the dispatched job ended without a result');
    return result.transcript;
  }
  if (record.status === 'cancelled') throw clientClosedError();
  const kind = Object.values(ErrorKinds).find((k) => k.code === record.error?.code) ?? ErrorKinds.internal;
  throw new VoiceStackError(kind, record.error?.message ?? 'Transcription failed on a worker.');
}
