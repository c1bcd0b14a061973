import type { Command } from 'commander';
import { pino } from 'pino';
import { asrService } from '../asr/asr-service.js';
import { errorMessage } from '../core/errors.js';
import { createServiceApp } from '../core/http/service-app.js';
import { ResourceMonitor } from '../core/runtime/resource-guard.js';
import { JobBackend } from '../jobs/job-backend.js';
import { JobMetrics } from '../jobs/job-metrics.js';
import { JobWorker } from '../jobs/job-worker.js';
import { ASR_QUEUE_NAME } from '../jobs/queue-names.js';
import { redactRedisUrl } from '../jobs/redis-connection.js';
import { loadSettingsOrExit } from './load-settings.js';

/**
 * `voice-stack worker asr`: consumes transcription jobs from Redis with the ASR service's
 * engine, model slot and guard rails, and serves /health, /ready and /metrics on
 * WORKER_METRICS_PORT. SIGTERM finishes running jobs within SHUTDOWN_GRACE_SECONDS,
 * then hands the rest back to the queue.
 */
async function runAsrWorker(): Promise<void> {
  const settings = loadSettingsOrExit();
  const logger = pino({ level: settings.logLevel, base: { pid: process.pid } });
  const redisUrl = settings.jobs.redisUrl;
  if (redisUrl === undefined) {
    process.stderr.write('voice-stack: a worker needs REDIS_URL (e.g. redis://localhost:6379)\n');
    process.exit(2);
  }
  const runtime = asrService.createRuntime(settings, logger, new ResourceMonitor());
  const backend = JobBackend.connect({ ...settings.jobs, redisUrl }, 'worker');
  const metrics = new JobMetrics(runtime.metrics.registry, {
    jobCounts: () => backend.jobCounts(),
    workersSeen: () => backend.workersSeen(),
  });
  const worker = new JobWorker(runtime, backend, metrics, runtime.logger);
  // Health, readiness and metrics only: a worker takes its work from Redis, not HTTP.
  const app = await createServiceApp(runtime, { routes: () => {} });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      runtime.logger.info({ event: 'shutdown', signal }, 'worker stopping');
      const finished = await worker.close(settings.shutdownGraceSeconds);
      await runtime.destroy();
      await app.close();
      runtime.logger.info({ event: 'stopped', finished }, 'worker stopped');
      process.exit(finished ? 0 : 1);
    })();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    await worker.start();
    const address = await app.listen({ host: settings.host, port: settings.jobs.workerMetricsPort });
    runtime.logger.info(
      { event: 'listening', address, queue: ASR_QUEUE_NAME, redis: redactRedisUrl(redisUrl) },
      'asr worker listening (health and metrics)',
    );
  } catch (error) {
    logger.fatal({ err: error }, 'could not start');
    process.stderr.write(`voice-stack: ${errorMessage(error)}\n`);
    process.exit(1);
  }
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('consume durable transcription jobs from Redis (REDIS_URL)')
    .argument('<service>', 'asr')
    .action(async (service: string) => {
      if (service !== 'asr') program.error(`unknown worker '${service}': expected asr`);
      await runAsrWorker();
    });
}
