import type { LoadTestCliOptions } from '../cli-options.js';
import type { HealthSample, LoadTestResult } from '../load-test-result.js';
import type { ServiceTarget } from '../service-target.js';
import type { TrafficPlan } from '../traffic-plan.js';

export type CheckStatus = 'OK' | 'FAIL' | 'SKIP';

/** One thing a scenario verified, phrased as the claim: "peak active_requests 2 = TTS_MAX_CONCURRENT_REQUESTS 2". */
export interface ScenarioCheck {
  service: string;
  name: string;
  status: CheckStatus;
}

/** What a scenario gets for one service: its target, the user's flags, and the tools to load and look. */
export interface ServiceScenarioContext {
  target: ServiceTarget;
  options: LoadTestCliOptions;
  load: (plan: TrafficPlan) => Promise<LoadTestResult>;
  health: () => Promise<HealthSample>;
  /** Resolves early when the run is interrupted. */
  sleep: (ms: number) => Promise<void>;
  interrupted: () => boolean;
  log: (line: string) => void;
}

export interface ServiceScenarioOutcome {
  checks: ScenarioCheck[];
  results: LoadTestResult[];
}

export interface Scenario {
  name: string;
  description: string;
  runService: (context: ServiceScenarioContext) => Promise<ServiceScenarioOutcome>;
}

export interface ScenarioReport {
  name: string;
  checks: ScenarioCheck[];
  results: LoadTestResult[];
  text: string;
}

export function check(service: string, name: string, passed: boolean | undefined): ScenarioCheck {
  return { service, name, status: passed === undefined ? 'SKIP' : passed ? 'OK' : 'FAIL' };
}

/** `TTS_MAX_CONCURRENT_REQUESTS`: the setting a person would change, named as in docs/CONFIGURATION.md. */
export function settingName(service: string, setting: string): string {
  return `${service.toUpperCase()}_${setting}`;
}
