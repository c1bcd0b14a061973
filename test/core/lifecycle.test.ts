import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { ErrorKinds, VoiceStackError } from '../../src/core/errors.js';
import { AdmissionQueue } from '../../src/core/runtime/admission-queue.js';
import { ResourceMonitor } from '../../src/core/runtime/resource-guard.js';
import { ServiceRuntime } from '../../src/core/runtime/service-runtime.js';
import { parseSettings } from '../../src/core/settings.js';
import { createTtsEngine } from '../../src/tts/engines/create-tts-engine.js';
import { createStreamEncoder } from '../../src/tts/stream-encoder.js';

// Everything that holds a resource closes gracefully and, where it can be cut, is
// destroyed; both are async and a second call is harmless (shutdown paths overlap).

describe('lifecycle verbs: close() and destroy(), async and safe to call twice', () => {
  test('admission queue: destroy fails the waiters once; close waits for the running work', async () => {
    const queue = new AdmissionQueue({ maxConcurrent: 1, maxQueue: 2, queueTimeoutMs: 10_000 });
    const running = await queue.acquire();
    const waiting = queue.acquire();
    await Promise.all([queue.destroy(), queue.destroy()]);
    await assert.rejects(
      waiting,
      (e) => e instanceof VoiceStackError && e.code === ErrorKinds.shuttingDown.code,
    );
    let closed = false;
    const closing = Promise.all([queue.close(), queue.close()]).then(() => {
      closed = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, 'close waits for the permit still held');
    running.release();
    await closing;
    assert.deepEqual(queue.stats().active, 0);
  });

  test('service runtime on the real espeak-ng engine: close twice, then destroy twice', async () => {
    const settings = parseSettings({});
    const runtime = new ServiceRuntime({
      service: 'tts',
      settings,
      serviceSettings: settings.tts,
      engine: createTtsEngine(settings.tts),
      logger: pino({ level: 'silent' }),
      monitor: new ResourceMonitor(),
    });
    const voices = await runtime.gate.run(new AbortController().signal, (engine) => engine.voices.list());
    assert.ok(voices.length > 0);
    assert.equal(runtime.slot.status().loaded, true);
    await Promise.all([runtime.close(), runtime.close()]);
    assert.equal(runtime.slot.status().loaded, false);
    await runtime.destroy();
    await runtime.destroy();
    await assert.rejects(runtime.gate.run(new AbortController().signal, async () => 1));
  });

  test('stream encoders (in-process and ffmpeg): close flushes, destroy is harmless twice', async () => {
    for (const format of ['wav', 'mp3'] as const) {
      const out = new PassThrough();
      const bytes: Buffer[] = [];
      out.on('data', (chunk: Buffer) => bytes.push(chunk));
      const encoder = createStreamEncoder(format, 22_050, 1, out);
      await encoder.write(new Float32Array(2205).fill(0.1));
      await encoder.close();
      await encoder.destroy();
      await encoder.destroy();
      assert.ok(Buffer.concat(bytes).length > 0, `${format}: bytes written before close resolved`);
    }
  });
});
