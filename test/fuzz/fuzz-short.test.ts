import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport, runFuzz } from './run-fuzz.js';

describe('fuzz, short run (npm run fuzz runs 5,000)', () => {
  it('300 seeded bad requests of every class: no crash, no undocumented 5xx, nothing leaked', async () => {
    const report = await runFuzz({ requests: 300, seed: 20261202 });
    assert.ok(report.sent >= 300, `sent ${report.sent}`);
    assert.ok(report.passed, formatReport(report, 20261202));
  });
});
