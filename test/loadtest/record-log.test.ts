import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestRecord } from '../../src/loadtest/load-test-result.js';
import { RecordLog } from '../../src/loadtest/record-log.js';
import { computeServiceStats } from '../../src/loadtest/service-stats.js';

/** Every kind of record a run produces: ok, HTTP error, timeout, cancelled, with and without the optional fields. */
function sample(id: number): RequestRecord {
  const kind = id % 5;
  const startMs = id * 0.37 + 0.125;
  return {
    id,
    service: kind === 4 ? 'tts' : 'asr',
    stage: kind === 1 ? undefined : id % 3,
    intendedMs: startMs - (id % 7) * 0.01,
    startMs,
    ttfbMs: kind === 2 || kind === 3 ? undefined : 1.5 + id / 1e4,
    endMs: startMs + 2.25 + (id % 11),
    latencyMs: 2.25 + (id % 11) + (id % 7) * 0.01,
    status: kind === 2 || kind === 3 ? undefined : kind === 1 ? 503 : 200,
    ok: kind === 0 || kind === 4,
    error:
      kind === 1 ? 'HTTP 503: Too many concurrent requests' : kind === 2 ? 'Timeout after 0.2s' : undefined,
    cancelled: kind === 3,
    bytesReceived: kind === 1 ? 41 : id * 1000,
    audioSeconds: kind === 0 ? id / 16 : undefined,
  };
}

// More rows than one chunk, appended out of id order as lanes finish out of order.
const records = Array.from({ length: 20_000 }, (_, index) => sample(index % 2 ? index - 1 : index + 1));

test('a RecordLog gives back every record exactly as appended, sorted by id', () => {
  const log = new RecordLog('asr');
  for (const record of records) log.append(record);
  assert.equal(log.length, records.length);
  const sorted = [...records].sort((a, b) => a.id - b.id);
  assert.deepEqual(log.toRecords(), sorted);
  assert.equal(log.toRecords(), log.toRecords(), 'built once, then shared');
});

test('scan visits the rows in the order appended', () => {
  const log = new RecordLog('asr');
  for (const record of records.slice(0, 50)) log.append(record);
  const seen: RequestRecord[] = [];
  log.scan((record) => seen.push({ ...record }));
  assert.deepEqual(seen, records.slice(0, 50));
});

test('statistics from the log equal those from the records', () => {
  const log = new RecordLog('asr');
  for (const record of records) log.append(record);
  assert.deepEqual(computeServiceStats(log, 5000), computeServiceStats(records, 5000));
  const stats = computeServiceStats(log, 5000);
  assert.equal(stats.cancelled, records.length / 5);
  assert.deepEqual(
    stats.errors.map((group) => group.message),
    ['HTTP 503: Too many concurrent requests', 'Timeout after 0.2s'],
  );
});

test('a record appended after toRecords() shows up in the next toRecords()', () => {
  const log = new RecordLog('asr');
  log.append(sample(1));
  assert.equal(log.toRecords().length, 1);
  log.append(sample(0));
  assert.deepEqual(log.toRecords(), [sample(0), sample(1)]);
});
