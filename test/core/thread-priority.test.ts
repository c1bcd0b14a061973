/**
 * ASR_INFERENCE_NICE: every thread but the event loop's runs below it, and threads they start
 * inherit that (which is how whisper.cpp's compute threads, started from libuv's pool, end up
 * there). First in this process, then in a real `serve asr` read from outside through /proc.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { getPriority } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { lowerWorkerThreadPriority, threadNiceValues } from '../../src/core/runtime/thread-priority.js';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { postForm } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const linux = process.platform === 'linux';

function niceOf(pid: number): Map<number, number> {
  const nice = new Map<number, number>();
  for (const id of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${id}/stat`, 'utf8');
    nice.set(Number(id), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return nice;
}

describe('inference thread priority', { skip: linux ? false : 'Linux only' }, () => {
  // Relative to the process's own value: the suite may itself run under `nice`.
  const base = getPriority(process.pid);
  const below = (steps: number) => Math.min(19, base + steps);

  it('renices every thread but the main one, and threads started since on the next pass', async () => {
    assert.equal(lowerWorkerThreadPriority(0), 0, '0 leaves them');
    const changed = lowerWorkerThreadPriority(3);
    assert.ok(base >= 16 || changed > 0, 'a Node process has pool and V8 threads to renice');
    const threads = threadNiceValues();
    assert.equal(threads.find((t) => t.tid === process.pid)?.nice, base, 'the event loop keeps its priority');
    for (const thread of threads.filter((t) => t.tid !== process.pid)) assert.equal(thread.nice, below(3));
    assert.equal(lowerWorkerThreadPriority(3), 0, 'a second pass finds nothing left to change');

    // A worker thread started by the main thread has the main thread's value. Renice again and
    // the worker joins the others.
    const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
    await new Promise((resolve) => worker.once('online', resolve));
    try {
      assert.ok(base >= 16 || lowerWorkerThreadPriority(3) > 0, 'the new worker thread is found');
      assert.ok(threadNiceValues().every((t) => t.tid === process.pid || t.nice === below(3)));
    } finally {
      await worker.terminate();
    }
  });

  it("leaves V8's profiler sampler at the event loop's priority, so a profile of a busy service stays true", async () => {
    const session = new Session();
    session.connect();
    const post = (method: string, params?: object) =>
      new Promise<void>((resolve, reject) =>
        session.post(method, params, (error) => (error ? reject(error) : resolve())),
      );
    try {
      await post('Profiler.enable');
      await post('Profiler.start');
      const sampler = threadNiceValues().find((t) => t.name.startsWith('v8:'));
      assert.ok(sampler !== undefined, 'profiling starts a thread V8 names');
      lowerWorkerThreadPriority(3);
      assert.equal(threadNiceValues().find((t) => t.tid === sampler.tid)?.nice, sampler.nice);
      assert.ok(threadNiceValues().some((t) => t.tid !== process.pid && t.nice === below(3)));
    } finally {
      await post('Profiler.stop').catch(() => {});
      session.disconnect();
    }
  });

  describe('in serve asr', () => {
    const servers: ServiceProcess[] = [];
    let wav: Buffer;
    before(async () => {
      wav = readFileSync(speechWav('Testing one two three.', 'nice-speech'));
      const model = await testWhisperModel();
      servers.push(await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: model }));
      servers.push(
        await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: model, ASR_INFERENCE_NICE: '0' }),
      );
    });
    after(() => Promise.all(servers.map((server) => server.stop())));

    const transcribe = (server: ServiceProcess) =>
      postForm(
        `${server.url('asr')}/v1/audio/transcriptions`,
        { model: 'whisper-1', language: 'en' },
        { field: 'file', data: wav, name: 'speech.wav' },
      );

    it('runs inference 10 nice levels below the event loop by default, and not with ASR_INFERENCE_NICE=0', async () => {
      const [reniced, plain] = servers as [ServiceProcess, ServiceProcess];
      for (const server of servers) assert.equal((await transcribe(server)).status, 200);

      const pid = reniced.child.pid ?? 0;
      const nice = niceOf(pid);
      assert.equal(nice.get(pid), base, 'the event loop thread keeps the nice value it started with');
      const others = [...nice.entries()].filter(([tid]) => tid !== pid);
      assert.ok(others.length >= 4, 'the pool threads exist after a transcription');
      for (const [tid, value] of others) assert.equal(value, below(10), `thread ${tid}`);

      const plainPid = plain.child.pid ?? 0;
      assert.ok([...niceOf(plainPid).values()].every((value) => value === base));
    });
  });
});
