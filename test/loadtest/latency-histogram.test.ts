import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { LatencyHistogram } from '../../src/loadtest/latency-histogram.js';

/** What LatencyHistogram promises: an HDR histogram of microseconds, 3 significant digits. */
function plainHdr(latenciesMs: readonly number[]) {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const ms of latenciesMs) histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  return histogram;
}

// Sub-millisecond health checks, values around the 2.048 ms edge, slow transcriptions.
let seed = 7;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const latencies = [
  0,
  0.0004,
  2.046,
  2.047,
  2.048,
  2.049,
  ...Array.from({ length: 5000 }, () => 0.05 + random() * 0.2),
  ...Array.from({ length: 500 }, () => random() * 10),
  ...Array.from({ length: 50 }, () => 100 + random() * 300_000),
];

test('the snapshot is exactly what recording every value into HDR gives', () => {
  const histogram = new LatencyHistogram();
  for (const ms of latencies) histogram.record(ms);
  const plain = plainHdr(latencies);
  assert.equal(histogram.count, latencies.length);
  const snapshot = histogram.snapshot();
  assert.equal(snapshot.encoded, hdr.encodeIntoCompressedBase64(plain));
  assert.equal(snapshot.minMs, plain.minNonZeroValue / 1000);
  assert.equal(snapshot.maxMs, plain.maxValue / 1000);
  assert.equal(snapshot.meanMs, plain.mean / 1000);
  for (const percentile of [50, 90, 95, 99, 99.9]) {
    assert.equal(histogram.percentileMs(percentile), plain.getValueAtPercentile(percentile) / 1000);
  }
});

test('values recorded after a read are counted too', () => {
  const histogram = new LatencyHistogram();
  histogram.record(0.1);
  assert.equal(histogram.percentileMs(100), 0.1);
  histogram.record(0.3);
  histogram.record(0.3);
  assert.equal(histogram.count, 3);
  assert.equal(histogram.percentileMs(50), 0.3);
  assert.equal(histogram.snapshot().count, 3);
});
