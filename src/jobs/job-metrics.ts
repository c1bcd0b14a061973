import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { JOB_STATUSES, type JobRecord } from './job-record.js';

const JOB_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** What the jobs API and workers count, in the process's registry (API nodes and workers alike). */
export class JobMetrics {
  readonly submitted: Counter;
  readonly finished: Counter<'status'>;
  readonly queueWait: Histogram;
  readonly duration: Histogram<'status'>;
  readonly audioSeconds: Counter;
  readonly webhookDeliveries: Counter<'outcome'>;
  readonly jobs: Gauge<'status'>;
  readonly workers: Gauge;

  constructor(
    registry: Registry,
    fleet: {
      /** Jobs by status across the fleet: queued and running now, ended so far. */
      jobCounts: () => Promise<Record<string, number>>;
      workersSeen: () => Promise<number>;
    },
  ) {
    const registers = [registry];
    this.submitted = new Counter({
      name: 'voice_stack_jobs_submitted_total',
      help: 'Transcription jobs accepted by this API node',
      registers,
    });
    this.finished = new Counter({
      name: 'voice_stack_jobs_finished_total',
      // Counted by the process whose end of the job won (JobStore.finish's latch): summed over
      // the fleet, each job once, however many workers or pieces touched it.
      help: 'Transcription jobs this process ended, by status (succeeded, failed, cancelled; a cancel counts where the DELETE or the leaving client was)',
      labelNames: ['status'],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'voice_stack_job_queue_wait_seconds',
      help: 'Time from submission to a worker starting the job',
      buckets: JOB_BUCKETS,
      registers,
    });
    this.duration = new Histogram({
      name: 'voice_stack_job_duration_seconds',
      help: 'Time a worker spent on a job, by how it ended',
      labelNames: ['status'],
      buckets: JOB_BUCKETS,
      registers,
    });
    this.audioSeconds = new Counter({
      name: 'voice_stack_job_audio_seconds_total',
      help: 'Seconds of audio transcribed by jobs in this process',
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'voice_stack_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome (delivered, retried, failed, refused)',
      labelNames: ['outcome'],
      registers,
    });
    this.jobs = new Gauge({
      name: 'voice_stack_jobs',
      help: 'Transcription jobs across the fleet by status: queued and running now; succeeded, failed, cancelled ended so far',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await withTimeout(fleet.jobCounts());
        if (counts === undefined) return;
        for (const status of JOB_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    });
    this.workers = new Gauge({
      name: 'voice_stack_job_workers',
      help: 'Workers connected to the transcription queue, as Redis sees them',
      registers,
      async collect() {
        const count = await withTimeout(fleet.workersSeen());
        if (count !== undefined) this.set(count);
      },
    });
  }

  /** A cancellation this process made (JobBackend.cancel ended the job): counted once per job. */
  cancelled(record: JobRecord, now: number): void {
    this.finished.inc({ status: 'cancelled' });
    if (record.startedAt !== undefined)
      this.duration.observe({ status: 'cancelled' }, Math.max(0, now - record.startedAt) / 1000);
  }
}

/** A scrape must not hang on an unreachable Redis: the last values stay. */
async function withTimeout<T>(pending: Promise<T>, ms = 1000): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([pending.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
