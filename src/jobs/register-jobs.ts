import type { AsrEngine } from '../asr/engines/asr-engine.js';
import type { RemoteTranscriber } from '../asr/remote-transcriber.js';
import type { ServiceApp } from '../core/http/service-app-type.js';
import type { ServiceRuntime } from '../core/runtime/service-runtime.js';
import { JobBackend } from './job-backend.js';
import { JobMetrics } from './job-metrics.js';
import { registerJobRoutes } from './job-routes.js';
import { JobWorker } from './job-worker.js';
import { QueueTranscriber } from './queue-transcriber.js';

/**
 * The jobs API on an ASR service, and (unless ASR_JOBS_WORKER=false) a job worker on the
 * service's own runtime, started with the listener and drained with it.
 */
export function registerJobs(
  app: ServiceApp,
  runtime: ServiceRuntime<AsrEngine>,
): { remote: RemoteTranscriber | undefined } {
  const { jobs } = runtime.settings;
  if (jobs.redisUrl === undefined) {
    registerJobRoutes(app, runtime, undefined, undefined);
    return { remote: undefined };
  }
  const settings = { ...jobs, redisUrl: jobs.redisUrl };
  const backend = JobBackend.connect(settings, 'api');
  const metrics = new JobMetrics(runtime.metrics.registry, {
    jobCounts: () => backend.jobCounts(),
    workersSeen: () => backend.workersSeen(),
  });
  registerJobRoutes(app, runtime, backend, metrics);
  const worker = jobs.worker
    ? new JobWorker(runtime, JobBackend.connect(settings, 'worker'), metrics, runtime.logger)
    : undefined;
  if (worker) app.addHook('onReady', () => worker.start());
  const remote =
    jobs.dispatch === 'queue'
      ? new QueueTranscriber(
          backend,
          {
            maxQueueSize: runtime.serviceSettings.maxQueueSize,
            maxAudioSeconds: runtime.settings.asr.maxAudioHours * 3600,
            splitSeconds: jobs.splitMinutes * 60,
          },
          metrics,
          runtime.logger,
        )
      : undefined;
  app.addHook('onClose', async () => {
    await worker?.close(runtime.settings.shutdownGraceSeconds);
    await remote?.close();
    await backend.close();
  });
  return { remote };
}
