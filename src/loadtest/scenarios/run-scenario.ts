import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadTestCliOptions } from '../cli-options.js';
import { HealthSampler } from '../health-sampler.js';
import type { HealthSample, LoadTestResult } from '../load-test-result.js';
import type { ServiceTarget } from '../service-target.js';
import type { TrafficPlan } from '../traffic-plan.js';
import { concurrencyScenario } from './concurrency.js';
import { idleScenario } from './idle.js';
import type { Scenario, ScenarioCheck, ScenarioReport, ServiceScenarioContext } from './scenario.js';
import { smokeScenario } from './smoke.js';
import { soakScenario } from './soak.js';
import { stressScenario } from './stress.js';
import { thresholdsScenario } from './thresholds.js';

export const SCENARIOS: readonly Scenario[] = [
  smokeScenario,
  concurrencyScenario,
  thresholdsScenario,
  idleScenario,
  stressScenario,
  soakScenario,
];

export interface ScenarioRunContext {
  options: LoadTestCliOptions;
  targets: ServiceTarget[];
  load: (targets: ServiceTarget[], plan: TrafficPlan) => Promise<LoadTestResult>;
  io: { stderr: NodeJS.WritableStream; signal: AbortSignal };
}

/** Runs a scenario service by service (a check is about one server's settings). */
export async function runScenario(name: string, context: ScenarioRunContext): Promise<ScenarioReport> {
  const scenario = SCENARIOS.find((candidate) => candidate.name === name);
  if (!scenario)
    throw new Error(`unknown scenario "${name}" (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  const checks: ScenarioCheck[] = [];
  const results: LoadTestResult[] = [];
  for (const target of context.targets) {
    if (context.io.signal.aborted) break;
    const outcome = await scenario.runService(serviceContext(target, context));
    checks.push(...outcome.checks);
    results.push(...outcome.results);
  }
  if (results.length === 0) results.push(emptyResult());
  return { name, checks, results, text: formatScenario(scenario, checks) };
}

function serviceContext(target: ServiceTarget, context: ScenarioRunContext): ServiceScenarioContext {
  return {
    target,
    options: context.options,
    load: (plan) => context.load([target], plan),
    health: () => sampleHealth(target),
    sleep: (ms) => sleep(ms, undefined, { signal: context.io.signal }).catch(() => undefined),
    interrupted: () => context.io.signal.aborted,
    log: (line) => context.io.stderr.write(`${line}\n`),
  };
}

async function sampleHealth(target: ServiceTarget): Promise<HealthSample> {
  const origin = performance.now();
  const sampler = new HealthSampler(
    target.baseUrl,
    target.healthPath ?? '/health/detailed',
    0,
    () => performance.now() - origin,
  );
  try {
    return await sampler.sampleOnce();
  } finally {
    await sampler.close();
  }
}

/** `peak active_requests 2 = TTS_MAX_CONCURRENT_REQUESTS 2: OK`, one line per check. */
export function formatScenario(scenario: Scenario, checks: readonly ScenarioCheck[]): string {
  const failed = checks.filter((item) => item.status === 'FAIL').length;
  const skipped = checks.filter((item) => item.status === 'SKIP').length;
  return [
    `Scenario: ${scenario.name} — ${scenario.description}`,
    ...checks.map((item) => `  [${item.service}] ${item.name}: ${item.status}`),
    `Scenario result: ${failed === 0 ? 'OK' : 'FAIL'} (${checks.length} checks, ${failed} failed, ${skipped} skipped)`,
  ].join('\n');
}

function emptyResult(): LoadTestResult {
  const now = new Date().toISOString();
  return {
    tool: 'voice-stack load-test',
    schemaVersion: 1,
    startedAt: now,
    finishedAt: now,
    interrupted: false,
    config: {},
    services: [],
    overall: undefined,
  };
}
