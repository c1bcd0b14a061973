import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import * as formats from 'ajv-formats';
import { JSON_REPORT_SCHEMA_FILE } from '../../src/loadtest/json-report.js';
import { repoRoot } from './cli-harness.js';

type FormatsPlugin = (ajv: Ajv) => Ajv;

/** Validates a `--json` report against the documented schema; returns the errors, empty when valid. */
export async function validateReport(report: unknown): Promise<string[]> {
  const schema: unknown = JSON.parse(await readFile(join(repoRoot(), JSON_REPORT_SCHEMA_FILE), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: true });
  const plugin = ((formats as unknown as { default: FormatsPlugin }).default ?? formats) as FormatsPlugin;
  plugin(ajv);
  const validate = ajv.compile(schema as object);
  if (validate(report)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''}`);
}
