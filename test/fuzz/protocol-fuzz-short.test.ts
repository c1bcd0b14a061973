import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProtocolReport, runProtocolFuzz } from './run-protocol-fuzz.js';

describe('protocol fuzz, short run (npm run fuzz runs 2,000)', () => {
  it('200 seeded broken Wyoming and Realtime cases: no crash, refusals as error events with codes, nothing leaked', async () => {
    const report = await runProtocolFuzz({ requests: 200, seed: 20261204 });
    assert.ok(report.cases >= 200, `ran ${report.cases}`);
    assert.ok(report.passed, formatProtocolReport(report, 20261204));
  });
});
