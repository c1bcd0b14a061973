import { writeFile } from 'node:fs/promises';
import type { LoadTestResult } from './load-test-result.js';
import type { ScenarioReport } from './scenarios/scenario.js';
import type { ThresholdOutcome } from './threshold.js';

/** Where the JSON report's contract is written down (JSON Schema, draft-07). */
export const JSON_REPORT_SCHEMA_FILE = 'src/loadtest/load-test-report.schema.json';

export interface ThresholdReport {
  expression: string;
  scope: string;
  actual: number | null;
  passed: boolean;
}

/**
 * The result as `--json` writes it. Absent values become null instead of vanishing,
 * so every documented key is always there for the machine reading it.
 */
export function toJsonReport(
  result: LoadTestResult,
  thresholds: readonly ThresholdOutcome[] = [],
  scenario?: ScenarioReport,
): unknown {
  const report = {
    ...result,
    scenario: scenario ? { name: scenario.name, checks: scenario.checks } : null,
    thresholds: thresholds.map(
      (outcome): ThresholdReport => ({
        expression: outcome.threshold.expression,
        scope: outcome.scope,
        actual: outcome.actual ?? null,
        passed: outcome.passed,
      }),
    ),
  };
  return JSON.parse(JSON.stringify(report, (_key, value: unknown) => (value === undefined ? null : value)));
}

export async function writeJsonReport(
  path: string,
  result: LoadTestResult,
  thresholds: readonly ThresholdOutcome[] = [],
  scenario?: ScenarioReport,
): Promise<void> {
  await writeFile(path, `${JSON.stringify(toJsonReport(result, thresholds, scenario), null, 2)}\n`);
}
