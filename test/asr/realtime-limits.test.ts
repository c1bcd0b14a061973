import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testWhisperModel } from '../support/fixtures.js';
import { http } from '../support/http.js';
import { phraseAudio, RealtimeClient, silence } from '../support/realtime-client.js';
import { ServiceProcess } from '../support/service-process.js';

interface LiveHealth {
  concurrency: { active_requests: number; queued: number };
  live_sessions: { realtime: { active: number; max: number } };
}

const health = async (base: string) => (await http(`${base}/health/detailed`)).json<LiveHealth>();

async function waitForIdle(base: string, timeoutMs: number): Promise<LiveHealth> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await health(base);
    const idle =
      h.concurrency.active_requests === 0 &&
      h.concurrency.queued === 0 &&
      h.live_sessions.realtime.active === 0;
    if (idle) return h;
    if (Date.now() > deadline) throw new Error(`not idle: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Realtime bounds: sessions, idle clients, buffered audio (real server)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      MAX_REALTIME_SESSIONS: '3',
      REALTIME_IDLE_TIMEOUT_SECONDS: '1',
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('MAX_REALTIME_SESSIONS + 1 sessions: the last gets an error event and close code 1013', async () => {
    const open = await Promise.all([1, 2, 3].map(() => RealtimeClient.connect(base)));
    try {
      for (const client of open) await client.next('transcription_session.created');
      const extra = await RealtimeClient.connect(base);
      await extra.closed;
      assert.equal(extra.closeCode, 1013);
      assert.equal(extra.events.length, 1);
      assert.equal(extra.events[0]?.type, 'error');
      assert.equal(extra.events[0]?.error?.code, 'session_limit_reached');
      assert.match(extra.events[0]?.error?.message ?? '', /MAX_REALTIME_SESSIONS/);
      assert.equal((await health(base)).live_sessions.realtime.active, 3);
    } finally {
      await Promise.all(open.map((c) => c.close()));
    }
    await waitForIdle(base, 5000);
    const again = await RealtimeClient.connect(base);
    await again.next('transcription_session.created');
    await again.close();
  });

  it('a client that sends nothing for REALTIME_IDLE_TIMEOUT_SECONDS is cut; one that talks is not', async () => {
    const idle = await RealtimeClient.connect(base);
    const talking = await RealtimeClient.connect(base);
    try {
      const keepTalking = (async () => {
        for (let i = 0; i < 10; i++) {
          talking.send({ type: 'input_audio_buffer.clear' });
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      await idle.closed;
      assert.equal(idle.closeCode, 1000);
      assert.equal(idle.events.at(-1)?.error?.code, 'session_idle_timeout');
      assert.match(idle.events.at(-1)?.error?.message ?? '', /REALTIME_IDLE_TIMEOUT_SECONDS/);
      await keepTalking;
      assert.equal(talking.closeCode, undefined, 'the talking client is still connected');
    } finally {
      await talking.close();
    }
  });

  it('buffered audio is bounded: past two minutes an append is refused and the session goes on', async () => {
    const client = await RealtimeClient.connect(base);
    try {
      client.send({ type: 'transcription_session.update', session: { turn_detection: null } });
      await client.next('transcription_session.updated');
      const second = silence(1);
      for (let i = 0; i < 121; i++) client.append(second);
      const full = await client.next('error');
      assert.equal(full.error?.code, 'input_audio_buffer_full');
      const seen = client.events.length;
      client.send({ type: 'input_audio_buffer.clear' });
      await client.next('input_audio_buffer.cleared', seen);
    } finally {
      await client.close();
    }
  });

  it('a message over 8 MiB closes the session with 1009 and frees its place', async () => {
    const client = await RealtimeClient.connect(base);
    await client.next('transcription_session.created');
    client.append(silence(200));
    await client.closed;
    assert.equal(client.closeCode, 1009);
    await waitForIdle(base, 5000);
  });
});

describe('Realtime sessions dropped abruptly (real server)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      MAX_REALTIME_SESSIONS: '100',
      MAX_CONCURRENT_REQUESTS: '2',
      MAX_QUEUE_SIZE: '16',
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('100 sessions opened and cut mid-utterance leave no request, no queue entry and no session', async () => {
    const phrase = phraseAudio('The service transcribes this sentence.', 'rt-phrase-2');
    const clients = await Promise.all(Array.from({ length: 100 }, () => RealtimeClient.connect(base)));
    await Promise.all(clients.map((c) => c.next('transcription_session.created')));
    assert.equal((await health(base)).live_sessions.realtime.active, 100);
    // Half commit an utterance (queued or running when cut), half are cut in the middle of one.
    clients.forEach((client, i) => {
      if (i % 2 === 0) {
        client.send({ type: 'transcription_session.update', session: { turn_detection: null } });
        client.append(phrase);
        client.send({ type: 'input_audio_buffer.commit' });
      } else {
        client.append(Buffer.concat([silence(0.5), phrase.subarray(0, phrase.length / 2)]));
      }
    });
    await clients[0]?.next('input_audio_buffer.committed');
    const busy = await health(base);
    assert.ok(busy.concurrency.active_requests + busy.concurrency.queued > 0, 'utterances were in the queue');
    for (const client of clients) client.socket.terminate();
    const after = await waitForIdle(base, 30_000);
    assert.equal(after.live_sessions.realtime.active, 0);

    const fresh = await RealtimeClient.connect(base);
    try {
      fresh.send({ type: 'transcription_session.update', session: { turn_detection: null } });
      fresh.append(phrase);
      fresh.send({ type: 'input_audio_buffer.commit' });
      await fresh.next('conversation.item.input_audio_transcription.completed');
    } finally {
      await fresh.close();
    }
  });
});

describe('Realtime sessions when the service drains (real server, SIGTERM)', () => {
  it('each open session gets a shutting_down error and close code 1001, and the process exits 0', async () => {
    const server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      DRAIN_NOTICE_SECONDS: '0.5',
      SHUTDOWN_GRACE_SECONDS: '10',
    });
    try {
      const client = await RealtimeClient.connect(server.url('asr'));
      await client.next('transcription_session.created');
      server.child.kill('SIGTERM');
      await client.closed;
      assert.equal(client.closeCode, 1001);
      assert.equal(client.events.at(-1)?.error?.code, 'shutting_down');
      assert.equal(await server.exited, 0);
    } finally {
      await server.stop();
    }
  });
});
