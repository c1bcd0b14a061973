import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { testWhisperModel } from '../support/fixtures.js';
import { detailedHealth, http } from '../support/http.js';
import { CLI_PATH } from '../support/service-process.js';
import { type ClientEvent, WyomingClient } from './wyoming-client.js';
import { countsSettle, startWithWyoming, type WyomingServices } from './wyoming-services.js';

const LONG_TEXT = 'Voice Stack keeps its promises under load, one sentence after another. '.repeat(25);

async function withServices(
  target: 'asr' | 'tts' | 'both',
  env: Record<string, string>,
  test: (services: WyomingServices) => Promise<void>,
): Promise<void> {
  const services = await startWithWyoming(target, env);
  try {
    await test(services);
  } finally {
    await services.server.stop();
  }
}

/** What a whole synthesize answers: its events until audio-stop, or the error that ended it. */
async function synthesize(port: number, text: string): Promise<ClientEvent[]> {
  const client = await WyomingClient.connect(port);
  client.send('synthesize', { text });
  const events = await client.readToEndOrUntil('audio-stop');
  client.close();
  return events;
}

describe('Wyoming shares the services’ guard rails (real servers)', () => {
  it('with 1 slot and a queue of 1, a burst of 5 synthesizes gets "Too many concurrent requests" errors', async () => {
    await withServices('tts', { MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUE_SIZE: '1' }, async (services) => {
      const port = services.port('tts');
      const answers = await Promise.all(Array.from({ length: 5 }, () => synthesize(port, LONG_TEXT)));
      const refused = answers.filter((events) => events[0]?.type === 'error');
      const spoken = answers.filter((events) => events.at(-1)?.type === 'audio-stop');
      assert.ok(refused.length >= 1, `refused ${refused.length} of 5`);
      assert.ok(spoken.length >= 1, `spoken ${spoken.length} of 5`);
      assert.equal(refused.length + spoken.length, 5);
      for (const [error] of refused) {
        assert.equal(error?.data.code, 'VS_ERR_QUEUE_FULL');
        assert.match(String(error?.data.text), /^Too many concurrent requests/);
      }
      const metrics = (await http(`${services.server.url('tts')}/metrics`)).body.toString();
      assert.match(metrics, /voice_stack_rejections_total\{reason="queue_full"[^}]*\} [1-9]/);
      assert.match(
        metrics,
        /voice_stack_requests_total\{route="wyoming\/synthesize",method="WYOMING",status="200"/,
      );
      assert.deepEqual(await countsSettle(services.server.url('tts')), { active: 0, queued: 0 });
    });
  });

  it('over the memory threshold, transcribe and synthesize get "Resource threshold exceeded"; describe still answers', async () => {
    const env = { ASR_MODEL: await testWhisperModel(), MEMORY_THRESHOLD_PERCENT: '1' };
    await withServices('both', env, async (services) => {
      const asr = await WyomingClient.connect(services.port('asr'));
      asr.send('transcribe', { language: 'en' });
      asr.sendAudio(Buffer.alloc(32000), { rate: 16000, width: 2, channels: 1 });
      const asrEvents = await asr.readToEnd();
      assert.equal(asrEvents[0]?.type, 'error');
      assert.match(String(asrEvents[0]?.data.text), /^Resource threshold exceeded \(memory: \d+%\)/);

      const ttsEvents = await synthesize(services.port('tts'), 'Hello.');
      assert.equal(ttsEvents[0]?.type, 'error');
      assert.equal(ttsEvents[0]?.data.code, 'VS_ERR_RESOURCE_THRESHOLD');

      for (const service of ['asr', 'tts'] as const) {
        const client = await WyomingClient.connect(services.port(service));
        client.send('describe');
        assert.equal((await client.readUntil('info')).at(-1)?.type, 'info');
        client.close();
        const health = await detailedHealth(services.server.url(service));
        assert.equal(health.model.loaded, false, `${service}: a refused request loads nothing`);
      }
    });
  });

  it('loads the model on first use and unloads it after the idle timeout', async () => {
    await withServices('tts', { IDLE_TIMEOUT_MINUTES: '0.005' }, async (services) => {
      const events = await synthesize(services.port('tts'), 'Hello there.');
      assert.equal(events.at(-1)?.type, 'audio-stop');
      await services.server.waitFor(
        () => services.server.logs.some((l) => l.event === 'model_unloaded' && l.reason === 'idle'),
        20_000,
        'the idle unload',
      );
      assert.equal((await detailedHealth(services.server.url('tts'))).model.loaded, false);
    });
  });

  it('cuts a client that stops reading its audio, and frees its slot', async () => {
    await withServices('tts', { BODY_IDLE_TIMEOUT_SECONDS: '1' }, async (services) => {
      const client = await WyomingClient.connect(services.port('tts'));
      client.socket.pause();
      client.send('synthesize', { text: LONG_TEXT.repeat(2) });
      await services.server.waitFor(
        () => services.server.logs.some((l) => l.event === 'wyoming_write_stalled'),
        30_000,
        'the stalled client to be cut',
      );
      assert.deepEqual(await countsSettle(services.server.url('tts')), { active: 0, queued: 0 });
      client.destroy();
    });
  });

  it('stops reading from a client that floods tiny events and takes none of their answers', {
    timeout: 90_000,
  }, async () => {
    // Found by the protocol fuzz: only payload bytes counted against the receive bound, so
    // 100 MB of `describe` lines were all read and queued (RSS grew by 650 MB).
    await withServices('asr', { BODY_IDLE_TIMEOUT_SECONDS: '10' }, async (services) => {
      const socket = connect(services.port('asr'), '127.0.0.1');
      await once(socket, 'connect');
      socket.pause();
      const chunk = Buffer.from('{"type":"describe"}\n'.repeat(4096));
      const total = 1280 * chunk.length;
      // Bytes handed to the kernel (a write's callback ran without error): the most the server took.
      let accepted = 0;
      socket.on('error', () => {});
      for (let i = 0; i < 1280; i++) {
        socket.write(chunk, (error) => {
          if (!error) accepted += chunk.length;
        });
      }
      // The server cuts it as a client that stopped reading its answers.
      await new Promise((resolve) => socket.on('close', resolve));
      assert.ok(
        accepted < 40 * 1024 * 1024,
        `the server took ${(accepted / 1048576).toFixed(0)} MB of ${(total / 1048576).toFixed(0)} MB`,
      );
      assert.deepEqual(await countsSettle(services.server.url('asr')), { active: 0, queued: 0 });
    });
  });

  it('refuses to start when a Wyoming port that was set is taken', { timeout: 30_000 }, async () => {
    const squatter = createServer().listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const taken = (squatter.address() as { port: number }).port;
    const child = spawn(process.execPath, [CLI_PATH, 'serve', 'tts'], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        TTS_PORT: '0',
        WYOMING_TTS_PORT: String(taken),
        VOICE_STACK_ENV_FILE: '/nonexistent/.env',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    try {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      const [code] = await exited;
      assert.equal(code, 1);
      assert.match(stdout, /could not start/);
      assert.match(stdout, /EADDRINUSE/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      squatter.close();
    }
  });

  it('on SIGTERM finishes the request in progress, closes idle connections, then exits 0', async () => {
    const env = { SHUTDOWN_GRACE_SECONDS: '20', DRAIN_NOTICE_SECONDS: '0' };
    await withServices('tts', env, async (services) => {
      const port = services.port('tts');
      const idle = await WyomingClient.connect(port);
      const busy = await WyomingClient.connect(port);
      busy.send('synthesize', { text: LONG_TEXT });
      const first = await busy.readUntil('audio-chunk');
      services.server.child.kill('SIGTERM');
      assert.deepEqual(await idle.readToEnd(), [], 'the idle connection is closed without a word');
      const rest = await busy.readToEnd();
      const events = [...first, ...rest];
      assert.equal(events.at(-1)?.type, 'audio-stop', 'the answer in progress is finished');
      assert.ok(events.every((e) => e.type !== 'error'));
      assert.equal(await services.server.exited, 0);
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ port, host: '127.0.0.1' });
        socket.on('connect', () => reject(new Error('the listener is still open')));
        socket.on('error', () => resolve());
      });
    });
  });
});
