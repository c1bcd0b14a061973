import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorKinds, VoiceStackError } from '../../src/core/errors.js';
import { AdmissionQueue, type SlotPermit } from '../../src/core/runtime/admission-queue.js';
import { ManualClock } from '../../src/core/runtime/clock.js';

function queue(maxConcurrent: number, maxQueue: number, clock = new ManualClock()) {
  return new AdmissionQueue({ maxConcurrent, maxQueue, queueTimeoutMs: 10_000, clock });
}

function code(error: unknown): string | undefined {
  return error instanceof VoiceStackError ? error.code : undefined;
}

describe('AdmissionQueue', () => {
  it('grants slots up to the limit, then queues in FIFO order', async () => {
    const q = queue(2, 10);
    const a = await q.acquire();
    const b = await q.acquire();
    const order: string[] = [];
    const track = (name: string) => (permit: SlotPermit) => {
      order.push(name);
      return permit;
    };
    const c = q.acquire().then(track('c'));
    const d = q.acquire().then(track('d'));
    assert.deepEqual(q.stats(), { active: 2, queued: 2, maxConcurrent: 2, maxQueue: 10 });
    a.release();
    (await c).release();
    b.release();
    (await d).release();
    assert.deepEqual(order, ['c', 'd']);
    assert.equal(q.stats().active, 0);
  });

  it('refuses with queue_full when slots and queue are taken', async () => {
    const q = queue(1, 1);
    await q.acquire();
    void q.acquire();
    await assert.rejects(q.acquire(), (e) => code(e) === 'VS_ERR_QUEUE_FULL');
  });

  it('times out a waiter on the clock and frees its place', async () => {
    const clock = new ManualClock();
    const q = queue(1, 1, clock);
    await q.acquire();
    const waiting = q.acquire();
    clock.advance(10_001);
    await assert.rejects(waiting, (e) => code(e) === 'VS_ERR_QUEUE_TIMEOUT');
    assert.equal(q.stats().queued, 0);
  });

  it('removes an aborted waiter from the queue', async () => {
    const q = queue(1, 5);
    const held = await q.acquire();
    const controller = new AbortController();
    const waiting = q.acquire(controller.signal);
    assert.equal(q.stats().queued, 1);
    controller.abort();
    await assert.rejects(waiting, (e) => code(e) === 'VS_ERR_CLIENT_CLOSED');
    assert.equal(q.stats().queued, 0);
    held.release();
    assert.equal(q.stats().active, 0);
  });

  it('release is idempotent', async () => {
    const q = queue(1, 0);
    const permit = await q.acquire();
    permit.release();
    permit.release();
    assert.equal(q.stats().active, 0);
    (await q.acquire()).release();
  });

  it('close drains: refuses new work, lets queued work finish', async () => {
    const q = queue(1, 5);
    const first = await q.acquire();
    const second = q.acquire();
    let closed = false;
    const closing = q.close().then(() => {
      closed = true;
    });
    await assert.rejects(q.acquire(), (e) => code(e) === 'VS_ERR_SHUTTING_DOWN');
    first.release();
    (await second).release();
    await closing;
    assert.ok(closed);
  });

  it('estimates Retry-After from measured service time and queue length', async () => {
    const clock = new ManualClock();
    const q = queue(1, 10, clock);
    for (let i = 0; i < 20; i++) {
      const p = await q.acquire();
      clock.advance(4000);
      p.release();
    }
    const empty = q.estimateRetryAfterSeconds();
    await q.acquire();
    void q.acquire();
    void q.acquire();
    const busy = q.estimateRetryAfterSeconds();
    assert.ok(empty >= 3 && empty <= 5, `empty ${empty}`);
    assert.ok(busy > empty * 2, `busy ${busy} vs empty ${empty}`);
  });

  it('shedBeyond refuses the queued requests the budget cannot cover, keeps the rest, and drains', async () => {
    const q = queue(1, 10);
    const running = await q.acquire();
    const waiting = Array.from({ length: 4 }, () =>
      q.acquire().then(
        () => 'granted',
        (e: unknown) => code(e),
      ),
    );
    // Mean service time starts at 2 s: the first waiter finishes at 4 s, the second at 6 s.
    const shed = q.shedBeyond(5000, () => new VoiceStackError(ErrorKinds.shuttingDown, 'bye'));
    assert.equal(shed, 3);
    assert.equal(q.isDraining, true);
    running.release();
    assert.deepEqual(await Promise.all(waiting), [
      'granted',
      'VS_ERR_SHUTTING_DOWN',
      'VS_ERR_SHUTTING_DOWN',
      'VS_ERR_SHUTTING_DOWN',
    ]);
  });
});
