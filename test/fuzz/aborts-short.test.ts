import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ABORT_CLASSES } from './abort-cases.js';
import { formatAbortReport, runAborts } from './run-aborts.js';

const SEED = 20261203;

describe('aborts, short run (npm run aborts runs 1,000)', () => {
  it('120 requests cut at varied moments: no slot held, no spool file left, no crash', async () => {
    const report = await runAborts({ requests: 120, seed: SEED, concurrency: 16 });
    const summary = formatAbortReport(report, SEED);
    assert.equal(report.sent, 120, summary);
    assert.equal(report.leakedSlots, 0, summary);
    assert.equal(report.leakedSpoolFiles, 0, summary);
    assert.equal(report.crashes, 0, summary);
    assert.deepEqual(report.healthStatus, { asr: 200, tts: 200 }, summary);
    // The checks above mean something only if uploads were spooled and requests were really cut.
    assert.ok(report.spoolPeak > 0, `nothing was ever spooled\n${summary}`);
    for (const cls of ABORT_CLASSES) {
      const cut = [...report.counts].filter(([key]) => key.startsWith(`${cls}\t`) && /cut|aborted/.test(key));
      assert.ok(cut.length > 0, `no ${cls} request was cut by the client\n${summary}`);
    }
    assert.ok(report.passed, summary);
  });
});
