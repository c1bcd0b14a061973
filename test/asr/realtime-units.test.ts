import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Transcript } from '../../src/asr/engines/asr-engine.js';
import { AudioBuffer } from '../../src/asr/realtime/audio-buffer.js';
import { decodeAlaw, decodeUlaw } from '../../src/asr/realtime/g711.js';
import { DEFAULT_SERVER_VAD, parseClientEvent, RealtimeEventError } from '../../src/asr/realtime/protocol.js';
import { RealtimeSession, type UtteranceTranscriber } from '../../src/asr/realtime/realtime-session.js';
import { SileroTurnDetector, type SpeechRegionFinder } from '../../src/asr/realtime/silero-turn-detector.js';
import { EnergyTurnDetector, type TurnEvent } from '../../src/asr/realtime/turn-detector.js';
import type { PcmAudio } from '../../src/audio/pcm-audio.js';
import { ManualClock } from '../../src/core/runtime/clock.js';
import { ffmpeg, sine, tempDir } from '../audio/signals.js';

function int16(samples: Float32Array): Int16Array {
  return Int16Array.from(samples, (s) => Math.round(s * 32767));
}

const quietLog = { debug() {}, info() {}, warn() {} };

describe('G.711 decoding', () => {
  for (const [name, codec, decode] of [
    ['µ-law', 'mulaw', decodeUlaw],
    ['A-law', 'alaw', decodeAlaw],
  ] as const) {
    it(`${name} decodes every byte as ffmpeg does`, () => {
      const { dir, cleanup } = tempDir();
      try {
        const coded = join(dir, 'all.g711');
        writeFileSync(
          coded,
          Uint8Array.from({ length: 256 }, (_, i) => i),
        );
        const linear = join(dir, 'all.s16');
        ffmpeg('-f', codec, '-ar', '8000', '-ac', '1', '-i', coded, '-f', 's16le', linear);
        const expected = readFileSync(linear);
        const decoded = decode(Uint8Array.from({ length: 256 }, (_, i) => i));
        for (let i = 0; i < 256; i++) assert.equal(decoded[i], expected.readInt16LE(i * 2), `byte ${i}`);
      } finally {
        cleanup();
      }
    });
  }
});

/** Runs a detector over `signal` in chunks; returns the turns it reported. */
function energyTurns(
  config: typeof DEFAULT_SERVER_VAD,
  rate: number,
  signal: Int16Array,
  chunk = signal.length,
) {
  const events: TurnEvent[] = [];
  const detector = new EnergyTurnDetector(config, rate, (e) => events.push(e));
  for (let i = 0; i < signal.length; i += chunk) detector.push(signal.subarray(i, i + chunk));
  return events;
}

describe('turn detector', () => {
  const rate = 24_000;
  const tone = (seconds: number, amplitude: number) => int16(sine(300, rate, seconds, amplitude));
  const quiet = (seconds: number) => new Int16Array(Math.round(seconds * rate));

  it('finds speech start and stop in sample positions, whatever the chunking', () => {
    const signal = new Int16Array([...quiet(1), ...tone(0.8, 0.3), ...quiet(1)]);
    for (const chunk of [480, 333, signal.length]) {
      const events = energyTurns(DEFAULT_SERVER_VAD, rate, signal, chunk);
      assert.deepEqual(
        events.map((e) => e.kind),
        ['speech_started', 'speech_stopped'],
      );
      assert.equal(events[0]?.at, rate * 1, 'starts at the first loud frame');
      // Stops after silence_duration_ms (500 ms) of quiet frames.
      assert.equal(events[1]?.at, rate * 1.8 + rate * 0.5);
    }
  });

  it('a click is not speech, quiet sound under the threshold is not speech', () => {
    const signal = new Int16Array([...quiet(0.5), ...tone(0.03, 0.9), ...quiet(0.5), ...tone(1, 0.001)]);
    assert.deepEqual(energyTurns(DEFAULT_SERVER_VAD, rate, signal), []);
  });

  it('a higher threshold needs louder audio', () => {
    const soft = new Int16Array([...tone(0.5, 0.02), ...quiet(1)]);
    assert.equal(energyTurns({ ...DEFAULT_SERVER_VAD, threshold: 0.3 }, rate, soft).length, 2);
    assert.equal(energyTurns({ ...DEFAULT_SERVER_VAD, threshold: 0.9 }, rate, soft).length, 0);
  });
});

/** A stand-in for the Silero model that judges what it is given: speech where the 16 kHz audio is loud. */
const loudRegions: SpeechRegionFinder = async (samples) => {
  const regions: { start: number; end: number }[] = [];
  const window = 160; // 10 ms at 16 kHz
  for (let i = 0; i + window <= samples.length; i += window) {
    let peak = 0;
    for (let j = i; j < i + window; j++) peak = Math.max(peak, Math.abs(samples[j] as number));
    if (peak < 0.1) continue;
    const last = regions.at(-1);
    if (last !== undefined && Math.abs(last.end - i / 16_000) < 1e-9) last.end = (i + window) / 16_000;
    else regions.push({ start: i / 16_000, end: (i + window) / 16_000 });
  }
  return regions;
};

/**
 * The Silero detector's own logic (blocks, look-back, resampling, positions, fallback), with a
 * stand-in for the model that judges what it is given: regions where the 16 kHz audio it
 * receives is loud. test/asr/realtime-session.test.ts runs the same path on the real engine
 * with a generated Silero model.
 */
describe('Silero turn detector (stand-in model)', () => {
  const rate = 24_000;
  const tone = (seconds: number, amplitude: number) => int16(sine(300, rate, seconds, amplitude));
  const quiet = (seconds: number) => new Int16Array(Math.round(seconds * rate));
  async function run(signal: Int16Array, findSpeech: SpeechRegionFinder, chunk = 480) {
    const events: TurnEvent[] = [];
    const fallbacks: unknown[] = [];
    const held: { samples: Int16Array } = { samples: new Int16Array(0) };
    const detector = new SileroTurnDetector({
      config: DEFAULT_SERVER_VAD,
      sampleRate: rate,
      onTurn: (e) => events.push(e),
      read: (from, to) => held.samples.slice(Math.max(0, from), to),
      findSpeech,
      onFallback: (error) => fallbacks.push(error),
    });
    detector.reset(0);
    for (let i = 0; i < signal.length; i += chunk) {
      held.samples = signal.subarray(0, Math.min(signal.length, i + chunk));
      detector.push(signal.subarray(i, i + chunk));
      // The model answers between chunks, as it does between 20 ms WebSocket messages.
      await new Promise((r) => setImmediate(r));
    }
    return { events, fallbacks, detector };
  }

  it('finds the same turns as the model hears, a block behind the audio', async () => {
    const signal = new Int16Array([...quiet(1), ...tone(0.8, 0.3), ...quiet(1)]);
    const { events, fallbacks, detector } = await run(signal, loudRegions);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['speech_started', 'speech_stopped'],
    );
    const frame = rate * 0.02;
    assert.ok(Math.abs((events[0]?.at ?? 0) - rate * 1) <= frame, `start ${events[0]?.at}`);
    assert.ok(Math.abs((events[1]?.at ?? 0) - rate * 2.3) <= frame, `stop ${events[1]?.at}`);
    assert.deepEqual(fallbacks, []);
    assert.ok(detector.decidedTo <= signal.length && detector.decidedTo > signal.length - rate * 0.2);
  });

  it('the model decides, not the level: loud audio the model calls silence starts nothing', async () => {
    const signal = new Int16Array([...quiet(0.5), ...tone(1, 0.5), ...quiet(1)]);
    const { events } = await run(signal, async () => []);
    assert.deepEqual(events, []);
  });

  it('a block the model cannot judge is judged by level, and the failure is reported', async () => {
    const signal = new Int16Array([...quiet(1), ...tone(0.8, 0.3), ...quiet(1)]);
    const { events, fallbacks } = await run(signal, async () => {
      throw new Error('vad context gone');
    });
    assert.deepEqual(
      events.map((e) => e.kind),
      ['speech_started', 'speech_stopped'],
    );
    assert.ok(fallbacks.length > 0 && fallbacks.every((e) => (e as Error).message === 'vad context gone'));
  });

  it('results of a call made before reset() are dropped; close() aborts the call', async () => {
    let answer: (regions: { start: number; end: number }[]) => void = () => {};
    let signalSeen: AbortSignal | undefined;
    const events: TurnEvent[] = [];
    const detector = new SileroTurnDetector({
      config: DEFAULT_SERVER_VAD,
      sampleRate: rate,
      onTurn: (e) => events.push(e),
      read: (from, to) => new Int16Array(Math.max(0, to - Math.max(0, from))),
      findSpeech: (_samples, _threshold, signal) => {
        signalSeen = signal;
        return new Promise((resolve) => {
          answer = resolve;
        });
      },
    });
    detector.reset(0);
    detector.push(new Int16Array(rate));
    detector.reset(rate);
    answer([{ start: 0, end: 10 }]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, [], 'a stale answer starts no speech');
    assert.equal(detector.decidedTo, rate);
    detector.push(new Int16Array(rate));
    detector.close();
    assert.equal(signalSeen?.aborted, true);
  });
});

describe('audio buffer', () => {
  it('takes ranges across chunks by timeline position and forgets what came before', () => {
    const buffer = new AudioBuffer();
    buffer.append(Int16Array.from([0, 1, 2, 3]));
    buffer.append(Int16Array.from([4, 5, 6]));
    buffer.dropBefore(2);
    assert.equal(buffer.start, 2);
    assert.deepEqual([...buffer.take(1, 6)], [2, 3, 4, 5]);
    assert.equal(buffer.start, 6);
    assert.deepEqual([...buffer.take(6, 100)], [6]);
    assert.equal(buffer.length, 0);
    assert.equal(buffer.end, 7);
  });
});

describe('client events', () => {
  const refused = (text: string) => {
    try {
      parseClientEvent(text);
    } catch (error) {
      assert.ok(error instanceof RealtimeEventError);
      return { code: error.eventCode, param: error.param };
    }
    assert.fail(`accepted ${text}`);
  };

  it('accepts the transcription session events and refuses the rest with a code and the field', () => {
    assert.equal(parseClientEvent('{"type":"input_audio_buffer.commit","event_id":"e1"}').event_id, 'e1');
    const update = parseClientEvent(
      JSON.stringify({
        type: 'transcription_session.update',
        session: {
          input_audio_format: 'g711_alaw',
          input_audio_transcription: { model: 'gpt-4o-transcribe', language: 'en-US', prompt: 'x' },
          turn_detection: { type: 'server_vad', silence_duration_ms: 800 },
          input_audio_noise_reduction: null,
          include: [],
        },
      }),
    );
    assert.equal(update.type, 'transcription_session.update');
    if (update.type === 'transcription_session.update') {
      assert.equal(update.session.input_audio_transcription?.language, 'en');
      assert.equal(update.session.turn_detection?.silence_duration_ms, 800);
      assert.equal(update.session.turn_detection?.threshold, 0.5);
    }
    assert.deepEqual(refused('[1]'), { code: 'invalid_json', param: undefined });
    assert.deepEqual(refused('{"type":"session.update"}'), { code: 'unknown_event', param: 'type' });
    assert.deepEqual(refused('{"type":"input_audio_buffer.append"}'), {
      code: 'missing_required_parameter',
      param: 'audio',
    });
    assert.deepEqual(
      refused('{"type":"transcription_session.update","session":{"turn_detection":{"threshold":2}}}'),
      { code: 'invalid_value', param: 'session.turn_detection.threshold' },
    );
    assert.deepEqual(
      refused(
        '{"type":"transcription_session.update","session":{"input_audio_transcription":{"language":"xx-yy"}}}',
      ),
      { code: 'invalid_value', param: 'session.input_audio_transcription.language' },
    );
  });
});

describe('session state machine (no server)', () => {
  function harness(transcribe: UtteranceTranscriber, findSpeech?: SpeechRegionFinder) {
    const sent: { type: string; [key: string]: unknown }[] = [];
    const closes: number[] = [];
    const clock = new ManualClock();
    let ended = 0;
    const session = new RealtimeSession(
      { send: (text) => sent.push(JSON.parse(text)), close: (code) => closes.push(code) },
      {
        transcribe,
        findSpeech,
        modelName: 'test',
        idleTimeoutMs: 1000,
        maxBufferSeconds: 10,
        clock,
        log: quietLog,
        onEnd: () => {
          ended += 1;
        },
      },
    );
    session.start();
    const send = (event: object) => session.receive(JSON.stringify(event), false);
    return { session, sent, closes, clock, send, ended: () => ended };
  }
  const pcm = (seconds: number) =>
    Buffer.from(int16(sine(300, 24_000, seconds, 0.3)).buffer).toString('base64');

  it('the idle timer waits while an utterance is being transcribed, and end() aborts it', async () => {
    let signal: AbortSignal | undefined;
    let finish: (t: Transcript) => void = () => {};
    const { session, sent, clock, send, ended } = harness((_audio: PcmAudio, _o, s) => {
      signal = s;
      return new Promise<Transcript>((resolve) => {
        finish = resolve;
      });
    });
    send({ type: 'transcription_session.update', session: { turn_detection: null } });
    send({ type: 'input_audio_buffer.append', audio: pcm(0.5) });
    send({ type: 'input_audio_buffer.commit' });
    await new Promise((r) => setImmediate(r));
    clock.advance(5000);
    assert.equal(ended(), 0, 'not idle while transcribing');
    finish({ language: 'en', duration: 0.5, text: ' hi', segments: [] });
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.at(-1)?.type, 'conversation.item.input_audio_transcription.completed');
    clock.advance(1000);
    assert.equal(ended(), 1, 'idle once nothing is pending');
    assert.equal(sent.at(-1)?.type, 'error');
    session.end();
    assert.equal(ended(), 1, 'end is safe to call twice');
    assert.equal(signal?.aborted, true);
  });

  it('with the Silero VAD, turns found after the audio still give started, stopped, committed, completed in order', async () => {
    const calls: number[] = [];
    const findSpeech: SpeechRegionFinder = (samples, threshold, signal) => {
      calls.push(samples.length);
      return loudRegions(samples, threshold, signal);
    };
    const { sent, send } = harness(
      async (audio) => ({
        language: 'en',
        duration: audio.samples.length / 16000,
        text: ' hi',
        segments: [],
      }),
      findSpeech,
    );
    const quietPcm = (seconds: number) => Buffer.alloc(Math.round(seconds * 24_000) * 2).toString('base64');
    for (const [audio, seconds] of [
      [quietPcm, 0.5],
      [pcm, 1],
      [quietPcm, 1],
      [pcm, 1],
      [quietPcm, 1],
    ] as const) {
      for (let t = 0; t < seconds; t += 0.02) {
        send({ type: 'input_audio_buffer.append', audio: audio(0.02) });
        await new Promise((r) => setImmediate(r));
      }
    }
    await new Promise((r) => setImmediate(r));
    assert.ok(calls.length > 10, `the model judged the stream block by block (${calls.length} calls)`);
    const turnTypes = [
      'input_audio_buffer.speech_started',
      'input_audio_buffer.speech_stopped',
      'input_audio_buffer.committed',
      'conversation.item.input_audio_transcription.completed',
    ];
    const turns = sent.filter((e) => turnTypes.includes(e.type));
    assert.deepEqual(
      turns.map((e) => e.type),
      [...turnTypes, ...turnTypes],
    );
    const started = turns.filter((e) => e.type === 'input_audio_buffer.speech_started');
    assert.ok(
      Math.abs((started[0]?.audio_start_ms as number) - (500 - 300)) <= 20,
      'prefix padding before the start',
    );
    assert.ok(Math.abs((started[1]?.audio_start_ms as number) - (2500 - 300)) <= 20);
    for (const item of [0, 1]) {
      const ids = turns.slice(item * 4, item * 4 + 4).map((e) => e.item_id);
      assert.ok(
        ids.every((id) => id === ids[0]),
        JSON.stringify(ids),
      );
    }
  });

  it('speech longer than the buffer is committed when the buffer is full', async () => {
    const { sent, send } = harness(async (audio) => ({
      language: 'en',
      duration: audio.samples.length / 16000,
      text: '',
      segments: [],
    }));
    for (let i = 0; i < 12; i++) send({ type: 'input_audio_buffer.append', audio: pcm(1) });
    const types = sent.map((e) => e.type);
    assert.ok(types.includes('input_audio_buffer.speech_stopped'), types.join(', '));
    assert.ok(types.includes('input_audio_buffer.committed'));
    assert.ok(!types.includes('error'), JSON.stringify(sent.filter((e) => e.type === 'error')));
  });
});
