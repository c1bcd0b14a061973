import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { sine } from '../audio/signals.js';
import { speechBandVadModel, testWhisperModel } from '../support/fixtures.js';
import { http } from '../support/http.js';
import { phraseAudio, RealtimeClient, type ServerEvent, silence } from '../support/realtime-client.js';
import { ServiceProcess } from '../support/service-process.js';

const PHRASES = ['Testing one two three.', 'The service transcribes this sentence.'];

/** The events of one item, in arrival order. */
function itemEvents(events: ServerEvent[], itemId: string): string[] {
  return events.filter((e) => e.item_id === itemId).map((e) => e.type);
}

interface LiveHealth {
  concurrency: { active_requests: number; queued: number };
  live_sessions: { realtime: { active: number; max: number } };
}

/**
 * Speech, a loud 7 kHz whistle, speech, each after silence, at 24 kHz: the energy detector
 * hears three utterances, a speech detector two (the whistle is outside the speech band).
 */
function speechWhistleSpeech(): Buffer {
  const whistle = Int16Array.from(sine(7000, 24_000, 1, 0.5), (v) => Math.round(v * 32767));
  return Buffer.concat([
    silence(0.6),
    phraseAudio(PHRASES[0] as string, 'rt-phrase-1'),
    silence(1.5),
    Buffer.from(whistle.buffer),
    silence(1.5),
    phraseAudio(PHRASES[1] as string, 'rt-phrase-2'),
    silence(1.5),
  ]);
}

/** Streams `pcm` at real-time pace with server VAD on; returns the client once `completed` transcripts are in. */
async function streamTurns(base: string, pcm: Buffer, completed: number): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(base);
  await client.next('transcription_session.created');
  client.send({
    type: 'transcription_session.update',
    session: { input_audio_transcription: { language: 'en' }, turn_detection: { type: 'server_vad' } },
  });
  await client.next('transcription_session.updated');
  await client.stream(pcm, 24_000);
  await client.waitFor(
    (events) =>
      events.filter((e) => e.type === 'conversation.item.input_audio_transcription.completed').length >=
      completed,
    `${completed} completed transcripts`,
  );
  return client;
}

/** Each utterance's events in order, with one item id, and the utterances in time order. */
function assertOrderedTurns(client: RealtimeClient): void {
  let previousEnd = 0;
  for (const start of client.of('input_audio_buffer.speech_started')) {
    const itemId = start.item_id as string;
    assert.deepEqual(
      itemEvents(client.events, itemId).filter(
        (t) => t !== 'conversation.item.input_audio_transcription.delta',
      ),
      [
        'input_audio_buffer.speech_started',
        'input_audio_buffer.speech_stopped',
        'input_audio_buffer.committed',
        'conversation.item.input_audio_transcription.completed',
      ],
    );
    const stopped = client.of('input_audio_buffer.speech_stopped').find((e) => e.item_id === itemId);
    assert.ok((start.audio_start_ms ?? -1) >= previousEnd, 'utterances do not overlap');
    assert.ok((stopped?.audio_end_ms ?? 0) > (start.audio_start_ms ?? 0));
    previousEnd = stopped?.audio_end_ms ?? 0;
  }
  assert.equal(client.of('error').length, 0, JSON.stringify(client.of('error')));
}

describe('Realtime transcription over WebSocket (real server, real binding)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: await testWhisperModel() });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('server VAD: every utterance streamed at real-time pace gives started, stopped, committed, completed', async () => {
    const client = await RealtimeClient.connect(base);
    try {
      const created = await client.next('transcription_session.created');
      assert.equal(created.session?.object, 'realtime.transcription_session');
      assert.equal(created.session?.input_audio_format, 'pcm16');
      assert.equal((created.session?.turn_detection as { type: string } | undefined)?.type, 'server_vad');
      client.send({
        type: 'transcription_session.update',
        session: {
          input_audio_format: 'pcm16',
          input_audio_transcription: { model: 'whisper-1', language: 'en', prompt: '' },
          turn_detection: {
            type: 'server_vad',
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
          },
        },
      });
      const updated = await client.next('transcription_session.updated');
      assert.equal(
        (updated.session?.input_audio_transcription as { language: string } | undefined)?.language,
        'en',
      );

      const pcm = Buffer.concat([
        silence(0.6),
        phraseAudio(PHRASES[0] as string, 'rt-phrase-1'),
        silence(1.5),
        phraseAudio(PHRASES[1] as string, 'rt-phrase-2'),
        silence(1.5),
      ]);
      await client.stream(pcm, 24_000);
      await client.waitFor(
        (events) =>
          events.filter((e) => e.type === 'conversation.item.input_audio_transcription.completed').length >=
          2,
        'two completed transcripts',
      );
      const started = client.of('input_audio_buffer.speech_started');
      assert.equal(started.length, 2, 'one speech_started per utterance');
      let previousItem: string | null = null;
      let previousEnd = 0;
      for (const start of started) {
        const itemId = start.item_id as string;
        assert.match(itemId, /^item_/);
        const sequence = itemEvents(client.events, itemId).filter(
          (t) => t !== 'conversation.item.input_audio_transcription.delta',
        );
        assert.deepEqual(sequence, [
          'input_audio_buffer.speech_started',
          'input_audio_buffer.speech_stopped',
          'input_audio_buffer.committed',
          'conversation.item.input_audio_transcription.completed',
        ]);
        const stopped = client.of('input_audio_buffer.speech_stopped').find((e) => e.item_id === itemId);
        const committed = client.of('input_audio_buffer.committed').find((e) => e.item_id === itemId);
        const completed = client
          .of('conversation.item.input_audio_transcription.completed')
          .find((e) => e.item_id === itemId);
        assert.ok((start.audio_start_ms ?? -1) >= previousEnd, 'utterances do not overlap');
        assert.ok((stopped?.audio_end_ms ?? 0) > (start.audio_start_ms ?? 0));
        assert.equal(committed?.previous_item_id, previousItem);
        const deltas = client
          .of('conversation.item.input_audio_transcription.delta')
          .filter((e) => e.item_id === itemId)
          .map((e) => e.delta)
          .join('');
        assert.equal(deltas, completed?.transcript, 'the deltas add up to the transcript');
        previousItem = itemId;
        previousEnd = stopped?.audio_end_ms ?? 0;
      }
      // The first utterance starts after the leading 0.6 s of silence, less the prefix padding.
      assert.ok((started[0]?.audio_start_ms ?? 0) >= 250, `starts at ${started[0]?.audio_start_ms} ms`);
      assert.equal(client.of('error').length, 0, JSON.stringify(client.of('error')));
    } finally {
      await client.close();
    }
  });

  it('the energy detector (no ASR_VAD_MODEL) takes a loud whistle for a third utterance', async () => {
    const client = await streamTurns(base, speechWhistleSpeech(), 3);
    try {
      assert.equal(client.of('input_audio_buffer.speech_started').length, 3);
      assertOrderedTurns(client);
    } finally {
      await client.close();
    }
  });

  it('manual commits: turn_detection null, append, commit, completed; an empty commit is an error', async () => {
    const client = await RealtimeClient.connect(base);
    try {
      client.send({ type: 'transcription_session.update', session: { turn_detection: null } });
      const updated = await client.next('transcription_session.updated');
      assert.equal(updated.session?.turn_detection, null);
      client.send({ type: 'input_audio_buffer.commit', event_id: 'evt_empty' });
      const empty = await client.next('error');
      assert.equal(empty.error?.code, 'input_audio_buffer_commit_empty');
      assert.equal(empty.error?.event_id, 'evt_empty');

      const phrase = phraseAudio(PHRASES[0] as string, 'rt-phrase-1');
      for (let offset = 0; offset < phrase.length; offset += 9600)
        client.append(phrase.subarray(offset, offset + 9600));
      client.send({ type: 'input_audio_buffer.commit' });
      const committed = await client.next('input_audio_buffer.committed');
      const completed = await client.next('conversation.item.input_audio_transcription.completed');
      assert.equal(completed.item_id, committed.item_id);
      assert.equal(typeof completed.transcript, 'string');
      assert.equal(client.of('input_audio_buffer.speech_started').length, 0, 'no VAD events');
    } finally {
      await client.close();
    }
  });

  it('G.711 µ-law and A-law input are transcribed', async () => {
    for (const [format, coding] of [
      ['g711_ulaw', 'mulaw'],
      ['g711_alaw', 'alaw'],
    ] as const) {
      const client = await RealtimeClient.connect(base);
      try {
        client.send({
          type: 'transcription_session.update',
          session: { input_audio_format: format, turn_detection: null },
        });
        const updated = await client.next('transcription_session.updated');
        assert.equal(updated.session?.input_audio_format, format);
        client.append(phraseAudio(PHRASES[1] as string, 'rt-phrase-2', coding));
        client.send({ type: 'input_audio_buffer.commit' });
        const completed = await client.next('conversation.item.input_audio_transcription.completed');
        assert.equal(typeof completed.transcript, 'string', format);
        assert.equal(client.of('error').length, 0, `${format}: ${JSON.stringify(client.of('error'))}`);
      } finally {
        await client.close();
      }
    }
  });

  it('bad base64, a wrong audio format, an unknown event and bad JSON get error events; the session lives on', async () => {
    const client = await RealtimeClient.connect(base);
    try {
      await client.next('transcription_session.created');
      const errorAfter = async (send: () => void) => {
        const seen = client.events.length;
        send();
        return client.next('error', seen);
      };
      const badBase64 = await errorAfter(() =>
        client.send({ type: 'input_audio_buffer.append', audio: '***not base64***', event_id: 'evt_1' }),
      );
      assert.equal(badBase64.error?.code, 'invalid_audio');
      assert.equal(badBase64.error?.event_id, 'evt_1');
      const oddBytes = await errorAfter(() => client.append(Buffer.from([1, 2, 3])));
      assert.equal(oddBytes.error?.code, 'invalid_audio');
      const format = await errorAfter(() =>
        client.send({ type: 'transcription_session.update', session: { input_audio_format: 'mp3' } }),
      );
      assert.equal(format.error?.code, 'invalid_value');
      assert.equal(format.error?.param, 'session.input_audio_format');
      const unknown = await errorAfter(() => client.send({ type: 'response.create' }));
      assert.equal(unknown.error?.code, 'unknown_event');
      const json = await errorAfter(() => client.sendRaw('{not json'));
      assert.equal(json.error?.code, 'invalid_json');
      const vad = await errorAfter(() =>
        client.send({
          type: 'transcription_session.update',
          session: { turn_detection: { type: 'semantic_vad' } },
        }),
      );
      assert.equal(vad.error?.param, 'session.turn_detection.type');
      const param = await errorAfter(() =>
        client.send({ type: 'transcription_session.update', session: { voice: 'alloy' } }),
      );
      assert.equal(param.error?.code, 'unknown_parameter');
      for (const event of client.of('error')) assert.equal(event.error?.type, 'invalid_request_error');

      // Still alive, and the refused update changed nothing.
      const seen = client.events.length;
      client.send({ type: 'input_audio_buffer.clear' });
      await client.next('input_audio_buffer.cleared', seen);
      client.send({ type: 'transcription_session.update', session: {} });
      const updated = await client.next('transcription_session.updated', seen);
      assert.equal(updated.session?.input_audio_format, 'pcm16');
      assert.equal(client.closeCode, undefined);
    } finally {
      await client.close();
    }
  });

  it('counts live sessions in /health/detailed and /metrics', async () => {
    const clients = await Promise.all([RealtimeClient.connect(base), RealtimeClient.connect(base)]);
    const health = (await http(`${base}/health/detailed`)).json<LiveHealth>();
    assert.equal(health.live_sessions.realtime.active, 2);
    assert.equal(health.live_sessions.realtime.max, 16);
    const metrics = (await http(`${base}/metrics`)).body.toString();
    assert.match(metrics, /voice_stack_live_sessions\{[^}]*protocol="realtime"[^}]*\} 2/);
    await Promise.all(clients.map((c) => c.close()));
    const deadline = Date.now() + 5000;
    while ((await http(`${base}/health/detailed`)).json<LiveHealth>().live_sessions.realtime.active !== 0) {
      assert.ok(Date.now() < deadline, 'sessions counted down');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(
      (await http(`${base}/metrics`)).body.toString(),
      /voice_stack_realtime_utterances_total\{[^}]*result="completed"/,
    );
  });

  it("a page from another site may not open a session; the service's own pages and non-browsers may", async () => {
    await assert.rejects(
      RealtimeClient.connect(base, { headers: { origin: 'https://elsewhere.example' } }),
      /HTTP 403/,
    );
    const own = await RealtimeClient.connect(base, { headers: { origin: base } });
    await own.next('transcription_session.created');
    await own.close();
  });

  it('plain HTTP gets 426, another intent 400', async () => {
    const plain = await request(`${base}/v1/realtime?intent=transcription`);
    assert.equal(plain.statusCode, 426);
    assert.match(
      ((await plain.body.json()) as { error: { message: string } }).error.message,
      /^Upgrade required/,
    );
    await assert.rejects(
      RealtimeClient.connect(base, { query: 'model=gpt-4o-realtime-preview' }),
      /HTTP 400/,
    );
  });
});

describe('Realtime server VAD on the Silero model (ASR_VAD_MODEL, generated speech-band VAD)', () => {
  let server: ServiceProcess;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      ASR_VAD_MODEL: await speechBandVadModel(),
    });
  });
  after(() => server.stop());

  it('finds the two utterances and not the whistle; every turn is started, stopped, committed, completed', async () => {
    const client = await streamTurns(server.url('asr'), speechWhistleSpeech(), 2);
    try {
      const started = client.of('input_audio_buffer.speech_started');
      assert.equal(started.length, 2, JSON.stringify(started));
      assertOrderedTurns(client);
      // The first phrase starts after 0.6 s of silence, less the 300 ms prefix padding; the second
      // after the whistle (which ends at about 0.6 + phrase + 1.5 + 1 s).
      const first = started[0]?.audio_start_ms ?? 0;
      assert.ok(first >= 200 && first <= 450, `first utterance starts at ${first} ms`);
      const whistleEnd = 600 + phraseAudio(PHRASES[0] as string, 'rt-phrase-1').length / 48 + 2500;
      assert.ok(
        (started[1]?.audio_start_ms ?? 0) >= whistleEnd,
        `second starts at ${started[1]?.audio_start_ms} ms`,
      );
      const health = (await (
        await request(`${server.url('asr')}/health/detailed`)
      ).body.json()) as LiveHealth;
      assert.equal(health.concurrency.active_requests, 0);
    } finally {
      await client.close();
    }
  });
});

describe('Realtime under API_KEY', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      API_KEY: 'sekret',
    });
    base = server.url('asr');
  });
  after(() => server.stop());

  it('takes the key as a Bearer header or the openai-insecure-api-key subprotocol, and refuses without it', async () => {
    await assert.rejects(RealtimeClient.connect(base), /HTTP 401/);
    await assert.rejects(
      RealtimeClient.connect(base, { headers: { authorization: 'Bearer wrong' } }),
      /HTTP 401/,
    );
    await assert.rejects(
      RealtimeClient.connect(base, { protocols: ['realtime', 'openai-insecure-api-key.wrong'] }),
      /HTTP 401/,
    );
    const bearer = await RealtimeClient.connect(base, { headers: { authorization: 'Bearer sekret' } });
    await bearer.next('transcription_session.created');
    await bearer.close();
    const browser = await RealtimeClient.connect(base, {
      protocols: ['realtime', 'openai-insecure-api-key.sekret', 'openai-beta.realtime-v1'],
    });
    assert.equal(browser.socket.protocol, 'realtime', 'the key is never echoed back');
    await browser.next('transcription_session.created');
    await browser.close();
  });
});
