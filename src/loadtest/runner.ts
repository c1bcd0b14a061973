import { performance } from 'node:perf_hooks';
import { runClosedModel } from './closed-model.js';
import type { DriverContext } from './driver-context.js';
import { HealthSampler } from './health-sampler.js';
import type { LoadTestResult, RequestRecord, ServiceResult } from './load-test-result.js';
import { runOpenModel } from './open-model.js';
import { RecordLog } from './record-log.js';
import { RequestSender } from './request-sender.js';
import { summarizeServer } from './server-view.js';
import { computeOverall, computeServiceStats } from './service-stats.js';
import type { ServiceTarget } from './service-target.js';
import { computeStageStats } from './stage-stats.js';
import { type TrafficPlan, validatePlan } from './traffic-plan.js';

export interface LoadTestOptions {
  targets: ServiceTarget[];
  plan: TrafficPlan;
  /** Run the targets at the same time instead of one after the other. */
  together: boolean;
  timeoutMs: number;
  /** How often to poll `/health/detailed`; 0 turns sampling off. */
  sampleIntervalMs: number;
  /** Aborting it interrupts the run: in-flight requests are cancelled, the result is partial. */
  signal?: AbortSignal;
  onRecord?: (record: RequestRecord) => void;
  onServiceStart?: (target: ServiceTarget) => void;
  /** Echoed into the result so a report says how it was produced. */
  config?: Record<string, unknown>;
}

/** Runs the plan against every target and returns everything measured. */
export async function run(options: LoadTestOptions): Promise<LoadTestResult> {
  validatePlan(options.plan);
  const origin = performance.now();
  const now = () => performance.now() - origin;
  const startedAt = new Date();
  const interruption = interruptionOf(options.signal);
  const services: ServiceResult[] = [];
  if (options.together) {
    services.push(
      ...(await Promise.all(options.targets.map((target) => runService(target, options, now, interruption)))),
    );
  } else {
    for (const target of options.targets) {
      if (interruption.stopped()) break;
      services.push(await runService(target, options, now, interruption));
    }
  }
  interruption.dispose();
  return {
    tool: 'voice-stack load-test',
    schemaVersion: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    interrupted: interruption.stopped(),
    config: options.config ?? {},
    services,
    overall: services.length > 1 ? computeOverall(services) : undefined,
  };
}

interface Interruption {
  stopped: () => boolean;
  whenStopped: Promise<void>;
  dispose: () => void;
}

function interruptionOf(signal: AbortSignal | undefined): Interruption {
  let stopped = signal?.aborted ?? false;
  let markStopped = () => {};
  const whenStopped = new Promise<void>((resolve) => {
    markStopped = () => {
      stopped = true;
      resolve();
    };
  });
  if (stopped) markStopped();
  signal?.addEventListener('abort', markStopped, { once: true });
  return {
    stopped: () => stopped,
    whenStopped,
    dispose: () => signal?.removeEventListener('abort', markStopped),
  };
}

async function runService(
  target: ServiceTarget,
  options: LoadTestOptions,
  now: () => number,
  interruption: Interruption,
): Promise<ServiceResult> {
  options.onServiceStart?.(target);
  const sampler =
    target.healthPath && options.sampleIntervalMs > 0
      ? new HealthSampler(target.baseUrl, target.healthPath, options.sampleIntervalMs, now)
      : undefined;
  // The first sample is taken before any load: it tells whether the model was already loaded.
  await sampler?.sampleOnce();
  sampler?.start();
  const sender = new RequestSender(target, {
    connections: options.plan.workers,
    timeoutMs: options.timeoutMs,
    now,
  });
  const log = new RecordLog(target.name);
  const context: DriverContext = {
    sender,
    now,
    stopped: interruption.stopped,
    whenStopped: interruption.whenStopped,
    onRecord: (record) => {
      log.append(record);
      options.onRecord?.(record);
    },
  };
  void interruption.whenStopped.then(() => sender.cancelAll());
  const startedMs = now();
  await (options.plan.open ? runOpenModel(options.plan, context) : runClosedModel(options.plan, context));
  const finishedMs = now();
  await sampler?.stop();
  // A last sample after the load: peaks drain away and the model's state at the end shows.
  await sampler?.sampleOnce();
  await sampler?.close();
  await sender.close();
  return {
    service: target.name,
    url: target.baseUrl,
    startedMs,
    finishedMs,
    stats: computeServiceStats(log, finishedMs - startedMs),
    stages: options.plan.open ? computeStageStats(log.toRecords(), options.plan.open.stages) : [],
    server: summarizeServer(sampler?.samples ?? []),
    // Built from the log on first read (a report, a scenario's check): a run that only
    // prints its summary never turns its rows back into objects.
    get records() {
      return log.toRecords();
    },
    healthSamples: sampler?.samples ?? [],
  };
}
