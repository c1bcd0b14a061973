import { buildTargets, type LoadTestCliOptions, planFromOptions } from './cli-options.js';
import { writeHtmlReport } from './html-report.js';
import { writeJsonReport } from './json-report.js';
import { LiveProgressLine } from './live-progress-line.js';
import type { LoadTestResult } from './load-test-result.js';
import { run } from './runner.js';
import { runScenario } from './scenarios/run-scenario.js';
import type { ScenarioReport } from './scenarios/scenario.js';
import { computeOverall } from './service-stats.js';
import type { ServiceTarget } from './service-target.js';
import { formatSummary } from './summary-printer.js';
import { evaluateThresholds, formatThresholdOutcomes, type ThresholdOutcome } from './threshold.js';
import type { TrafficPlan } from './traffic-plan.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C: the run stops and the partial summary is printed. */
  signal: AbortSignal;
}

/** Exit codes: 0 all good, 1 the run could not be made, 2 a threshold or check failed, 130 interrupted. */
export const ExitCode = { ok: 0, error: 1, failedCheck: 2, interrupted: 130 } as const;

export async function executeLoadTest(options: LoadTestCliOptions, io: CliIo): Promise<number> {
  const targets = await buildTargets(options, io.env);
  const load = loader(options, io);
  if (options.scenario) {
    const report = await runScenario(options.scenario, { options, targets, load, io });
    return finish(report.results, report, options, io);
  }
  const result = await load(targets, planFromOptions(options));
  return finish([result], undefined, options, io);
}

export type Loader = (targets: ServiceTarget[], plan: TrafficPlan) => Promise<LoadTestResult>;

function loader(options: LoadTestCliOptions, io: CliIo): Loader {
  return async (targets, plan) => {
    const progress = new LiveProgressLine({
      progress: io.stderr,
      verbose: options.verbose ? io.stdout : undefined,
      plainEverySeconds: options.progress ? options.progressEverySeconds : 0,
    });
    try {
      return await run({
        targets,
        plan,
        together: options.together,
        timeoutMs: options.timeoutMs,
        sampleIntervalMs: options.sampleIntervalMs,
        signal: io.signal,
        onServiceStart: (target) => progress.startService(target.name),
        onRecord: (record) => progress.record(record),
        config: configOf(options, plan),
      });
    } finally {
      progress.close();
    }
  };
}

async function finish(
  results: LoadTestResult[],
  scenario: ScenarioReport | undefined,
  options: LoadTestCliOptions,
  io: CliIo,
): Promise<number> {
  const merged = mergeResults(results);
  io.stdout.write(`\n${formatSummary(merged)}`);
  const outcomes: ThresholdOutcome[] = evaluateThresholds(options.thresholds, merged);
  if (outcomes.length > 0) io.stdout.write(`\n${formatThresholdOutcomes(outcomes)}\n`);
  if (scenario) io.stdout.write(`\n${scenario.text}\n`);
  if (options.jsonPath) await writeJsonReport(options.jsonPath, merged, outcomes, scenario);
  if (options.htmlPath) await writeHtmlReport(options.htmlPath, merged, outcomes, scenario);
  if (merged.interrupted) return ExitCode.interrupted;
  const failed =
    outcomes.some((outcome) => !outcome.passed) || scenario?.checks.some((check) => check.status === 'FAIL');
  return failed ? ExitCode.failedCheck : ExitCode.ok;
}

/** Several loads (a scenario's steps) reported as one run. */
export function mergeResults(results: readonly LoadTestResult[]): LoadTestResult {
  const [first, ...rest] = results;
  if (!first) throw new Error('no load test result to report');
  if (rest.length === 0) return first;
  const services = results.flatMap((result) => result.services);
  return {
    ...first,
    finishedAt: results.at(-1)?.finishedAt ?? first.finishedAt,
    interrupted: results.some((result) => result.interrupted),
    services,
    overall: services.length > 1 ? computeOverall(services) : undefined,
  };
}

function configOf(options: LoadTestCliOptions, plan: TrafficPlan): Record<string, unknown> {
  const flags = options.flags;
  return {
    service: flags.service,
    scenario: options.scenario,
    mode: plan.open ? 'open' : 'closed',
    order: options.together ? 'parallel' : 'sequential',
    workers: plan.workers,
    requests: plan.requests,
    durationSeconds: plan.durationMs === undefined ? undefined : plan.durationMs / 1000,
    rate: options.rate,
    arrival: plan.open ? options.arrival : undefined,
    ramp: flags.ramp,
    timeoutSeconds: options.timeoutMs / 1000,
    asrHost: options.services.includes('asr') ? flags.asrHost : undefined,
    ttsHost: options.services.includes('tts') ? flags.ttsHost : undefined,
    audio: flags.audio,
    ttsFormat: options.services.includes('tts') ? flags.ttsFormat : undefined,
  };
}
