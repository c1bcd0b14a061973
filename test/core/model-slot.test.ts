import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/runtime/clock.js';
import type { LoadableEngine } from '../../src/core/runtime/engine.js';
import { ModelSlot } from '../../src/core/runtime/model-slot.js';

/** A counting engine: unit tests of the slot only (the real engines have their own suites). */
class CountingEngine implements LoadableEngine {
  loads = 0;
  unloads = 0;
  failNextLoad = false;
  loadGate: Promise<void> = Promise.resolve();
  describe() {
    return { engine: 'counting', modelName: 'm', device: 'cpu' };
  }
  async load() {
    await this.loadGate;
    if (this.failNextLoad) {
      this.failNextLoad = false;
      throw new Error('disk on fire');
    }
    this.loads += 1;
  }
  async unload() {
    this.unloads += 1;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ModelSlot', () => {
  it('loads once for concurrent first users', async () => {
    const engine = new CountingEngine();
    let open!: () => void;
    engine.loadGate = new Promise((r) => {
      open = r;
    });
    const slot = new ModelSlot(engine, { idleTimeoutMs: 0, clock: new ManualClock() });
    const uses = [1, 2, 3].map((n) => slot.use(async () => n));
    assert.equal(slot.status().loading, true);
    open();
    assert.deepEqual(await Promise.all(uses), [1, 2, 3]);
    assert.equal(engine.loads, 1);
    assert.equal(slot.status().loaded, true);
  });

  it('unloads after the idle timeout and reloads on next use', async () => {
    const clock = new ManualClock();
    const engine = new CountingEngine();
    const slot = new ModelSlot(engine, { idleTimeoutMs: 60_000, clock });
    await slot.use(async () => undefined);
    clock.advance(59_000);
    await tick();
    assert.equal(slot.status().loaded, true);
    clock.advance(1_000);
    await tick();
    assert.equal(slot.status().loaded, false);
    assert.equal(engine.unloads, 1);
    await slot.use(async () => undefined);
    assert.equal(engine.loads, 2);
  });

  it('re-arms when a timer fires a little before the idle time has passed', async () => {
    /** Real timers can fire a millisecond early against performance.now(). */
    class EarlyClock extends ManualClock {
      private early = true;
      override setTimer(delayMs: number, callback: () => void) {
        const delay = this.early ? delayMs - 1 : delayMs;
        this.early = false;
        return super.setTimer(delay, callback);
      }
    }
    const clock = new EarlyClock();
    const engine = new CountingEngine();
    const slot = new ModelSlot(engine, { idleTimeoutMs: 1000, clock });
    await slot.use(async () => undefined);
    clock.advance(999);
    await tick();
    assert.equal(slot.status().loaded, true, 'fired early, not yet idle long enough');
    clock.advance(1);
    await tick();
    assert.equal(slot.status().loaded, false, 'the re-armed timer unloads it');
  });

  it('never unloads while a request is in flight', async () => {
    const clock = new ManualClock();
    const engine = new CountingEngine();
    const slot = new ModelSlot(engine, { idleTimeoutMs: 1000, clock });
    await slot.use(async () => undefined);
    let finish!: () => void;
    const running = slot.use(() => new Promise<void>((r) => (finish = r)));
    await tick();
    clock.advance(5000);
    await tick();
    assert.equal(slot.status().loaded, true);
    finish();
    await running;
    clock.advance(1000);
    await tick();
    assert.equal(slot.status().loaded, false);
  });

  it('a failed load is retried by the next request', async () => {
    const engine = new CountingEngine();
    engine.failNextLoad = true;
    const slot = new ModelSlot(engine, { idleTimeoutMs: 0, clock: new ManualClock() });
    await assert.rejects(
      slot.use(async () => undefined),
      /disk on fire/,
    );
    assert.equal(slot.status().loaded, false);
    await slot.use(async () => undefined);
    assert.equal(slot.status().loaded, true);
  });

  it('records last_used and unloads on close', async () => {
    const engine = new CountingEngine();
    const slot = new ModelSlot(engine, { idleTimeoutMs: 0, clock: new ManualClock() });
    assert.equal(slot.status().lastUsed, null);
    await slot.use(async () => undefined);
    assert.ok(slot.status().lastUsed instanceof Date);
    await slot.close();
    await slot.close();
    assert.equal(engine.unloads, 1);
  });
});
