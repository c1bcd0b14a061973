import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readWavInfo, withExactWavSizes } from '../../src/audio/wav.js';
import { parseDuration } from '../../src/loadtest/duration.js';
import { connectionErrorLabel, httpErrorLabel, timeoutLabel } from '../../src/loadtest/error-label.js';
import { arrivals, parseRamp, type TrafficPlan } from '../../src/loadtest/traffic-plan.js';
import { silentWav } from './stub-speech-server.js';

test('durations: bare seconds and units', () => {
  assert.equal(parseDuration('30'), 30);
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('250ms'), 0.25);
  assert.throws(() => parseDuration('soon'), /invalid duration/);
});

test('ramp stages parse and drive the arrival schedule', () => {
  assert.deepEqual(parseRamp('1:30s,5:1m'), [
    { rate: 1, durationMs: 30_000 },
    { rate: 5, durationMs: 60_000 },
  ]);
  assert.throws(() => parseRamp('5'), /RATE:DURATION/);
  const plan: TrafficPlan = {
    workers: 1,
    requests: undefined,
    durationMs: undefined,
    open: { arrival: 'constant', stages: parseRamp('2:1s,4:1s') },
  };
  const times = [...arrivals(plan)].map((a) => [a.intendedMs, a.stage]);
  assert.deepEqual(times, [
    [0, 0],
    [500, 0],
    [1000, 1],
    [1250, 1],
    [1500, 1],
    [1750, 1],
  ]);
});

test('poisson arrivals keep the mean rate and stop at the request count', () => {
  const plan: TrafficPlan = {
    workers: 1,
    requests: 2000,
    durationMs: undefined,
    open: { arrival: 'poisson', stages: [{ rate: 100, durationMs: Number.POSITIVE_INFINITY }] },
  };
  let seed = 1;
  // A seeded Lehmer generator: the same arrivals every run.
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return (seed - 1) / 2147483646;
  };
  const all = [...arrivals(plan, random)];
  assert.equal(all.length, 2000);
  const meanGap = (all.at(-1)?.intendedMs ?? 0) / 1999;
  assert.ok(Math.abs(meanGap - 10) < 1, `mean gap ${meanGap} ms at 100/s`);
});

test('error labels: the server message, timeouts, refused connections', () => {
  const body = Buffer.from(
    JSON.stringify({ error: { message: 'Too many concurrent requests: busy', type: 't', code: 'c' } }),
  );
  assert.equal(httpErrorLabel(503, body), 'HTTP 503: Too many concurrent requests: busy');
  assert.equal(
    httpErrorLabel(502, Buffer.from('<html>bad gateway</html>\nmore')),
    'HTTP 502: <html>bad gateway</html>',
  );
  assert.equal(httpErrorLabel(500, Buffer.alloc(0)), 'HTTP 500');
  assert.equal(timeoutLabel(300_000), 'Timeout after 300s');
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.equal(
    connectionErrorLabel(new Error('fetch failed', { cause: refused })),
    'Connection error: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:1)',
  );
});

test('WAV duration, also for a streamed header with a placeholder size', () => {
  const wav = silentWav(1.5);
  assert.equal(readWavInfo(wav)?.durationSeconds, 1.5);
  const streamed = Buffer.from(wav);
  streamed.writeUInt32LE(0x7fffffff, 40);
  streamed.writeUInt32LE(0x7fffffff, 4);
  assert.equal(readWavInfo(streamed)?.durationSeconds, 1.5);
  const fixed = withExactWavSizes(streamed);
  assert.equal(fixed.readUInt32LE(40), 48_000);
  assert.equal(fixed.readUInt32LE(4), fixed.length - 8);
  assert.equal(readWavInfo(Buffer.from('not a wav')), undefined);
});
