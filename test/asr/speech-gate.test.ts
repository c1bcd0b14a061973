/**
 * Silence, room tone and clicks never reach whisper (which would invent "Thank you for
 * watching."), and come back as empty text in every format; speech still does reach it.
 * The gate's own rules first, then the real server, counting engine calls through the
 * `voice_stack_speech_gate_total` series.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { TranscriptSegment } from '../../src/asr/engines/asr-engine.js';
import {
  energySpeechRegions,
  energySpeechRegionsInTurns,
  keepSpokenSegments,
} from '../../src/asr/speech-gate.js';
import { encodeWav } from '../../src/audio/wav.js';
import { speechWav, testWhisperModel } from '../support/fixtures.js';
import { http, postForm } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const RATE = 16000;

/** Seeded white noise at `dbfs` RMS, optionally low-passed (a room's rumble is mostly low). */
function noise(seconds: number, dbfs: number, seed = 1, lowPass = false): Float32Array {
  const out = new Float32Array(Math.round(seconds * RATE));
  let state = seed;
  let smoothed = 0;
  for (let i = 0; i < out.length; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const white = (state / 0x7fffffff) * 2 - 1;
    smoothed = lowPass ? smoothed * 0.95 + white * 0.05 : white;
    out[i] = smoothed;
  }
  let power = 0;
  for (const s of out) power += s * s;
  const scale = 10 ** (dbfs / 20) / Math.sqrt(power / out.length);
  return out.map((s) => s * scale);
}

/** `seconds` of near silence with one 0.2 s burst at full scale in the middle. */
function click(seconds: number): Float32Array {
  const out = noise(seconds, -70, 3);
  const start = Math.round((seconds / 2) * RATE);
  out.set(noise(0.2, -6, 4), start);
  return out;
}

/** espeak-ng speech as 16 kHz samples, placed `at` seconds into `seconds` of room tone. */
function speechIn(seconds: number, at: number): Float32Array {
  const pcm = execFileSync('ffmpeg', [
    ...['-v', 'error', '-i', speechWav('Testing one two three.', 'gate-speech')],
    ...['-ar', String(RATE), '-ac', '1', '-f', 'f32le', 'pipe:1'],
  ]);
  const speech = new Float32Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length));
  const out = noise(seconds, -60, 5);
  out.set(speech, Math.round(at * RATE));
  return out;
}

const QUIET_CLIPS: ReadonlyArray<[string, Float32Array]> = [
  ['digital silence', new Float32Array(5 * RATE)],
  ['room tone at -60 dBFS', noise(5, -60)],
  ['loud hiss at -30 dBFS', noise(5, -30, 2)],
  ['low rumble at -40 dBFS', noise(5, -40, 6, true)],
  ['a 0.2 s click', click(3)],
  ['a few samples', new Float32Array(8)],
];

describe('the energy speech gate', () => {
  for (const [name, samples] of QUIET_CLIPS) {
    it(`finds no speech in ${name}`, () => {
      assert.deepEqual(energySpeechRegions(samples, RATE), []);
    });
  }

  it('counts a burst twice as long as the click as sound worth hearing', () => {
    const burst = noise(3, -70, 3);
    burst.set(noise(0.5, -6, 4), RATE);
    assert.equal(energySpeechRegions(burst, RATE).length, 1);
  });

  it('finds speech where it is, padded a little, in room tone', () => {
    const regions = energySpeechRegions(speechIn(6, 2), RATE);
    assert.ok(regions.length >= 1, 'speech found');
    const first = regions[0] as { start: number; end: number };
    const last = regions.at(-1) as { start: number; end: number };
    assert.ok(first.start > 1.7 && first.start < 2.2, `speech starts at ${first.start}`);
    assert.ok(last.end > 2.8 && last.end < 4.5, `speech ends at ${last.end}`);
  });

  it('finds the same regions when it gives the event loop turns on a long block', async () => {
    // 40 s: speech, a long pause, speech again, so the regions span several turns.
    const long = new Float32Array(40 * RATE);
    long.set(speechIn(10, 2), 0);
    long.set(speechIn(10, 5), 25 * RATE);
    let turns = 0;
    const regions = await energySpeechRegionsInTurns(long, RATE, async () => {
      turns += 1;
    });
    assert.ok(turns >= 2, `${turns} turns`);
    assert.ok(regions.length >= 2, 'both utterances found');
    assert.deepEqual(regions, energySpeechRegions(long, RATE));
    for (const [, samples] of QUIET_CLIPS)
      assert.deepEqual(await energySpeechRegionsInTurns(samples, RATE, async () => {}), []);
  });

  it('drops segments with no speech under them, keeps those that overlap it', () => {
    const segment = (id: number, start: number, end: number): TranscriptSegment => ({
      id,
      start,
      end,
      text: ` s${id}`,
      tokens: [],
      avgLogprob: 0,
      noSpeechProb: 0,
    });
    const kept = keepSpokenSegments(
      [segment(0, 0, 1), segment(1, 1.5, 2.5), segment(2, 3.9, 6), segment(3, 7, 9)],
      [
        { start: 2, end: 4 },
        { start: 8.5, end: 8.6 },
      ],
    );
    assert.deepEqual(
      kept.map((s) => s.id),
      [1, 2, 3],
    );
  });
});

/** A JSON transcript with segments (verbose_json, Bazarr's json) that says nothing. */
function assertNoSegments(text: string): void {
  const body = JSON.parse(text) as { text: string; segments: unknown[] };
  assert.equal(body.text, '');
  assert.deepEqual(body.segments, []);
}

const EMPTY_BODIES: ReadonlyArray<[string, string, (text: string) => void]> = [
  ['/v1/audio/transcriptions', 'json', (t) => assert.deepEqual(JSON.parse(t), { text: '' })],
  ['/v1/audio/transcriptions', 'text', (t) => assert.equal(t.trim(), '')],
  ['/v1/audio/transcriptions', 'srt', (t) => assert.equal(t.trim(), '')],
  ['/v1/audio/transcriptions', 'vtt', (t) => assert.equal(t.trim(), 'WEBVTT')],
  ['/v1/audio/transcriptions', 'verbose_json', assertNoSegments],
  ['/asr', 'txt', (t) => assert.equal(t.trim(), '')],
  ['/asr', 'srt', (t) => assert.equal(t.trim(), '')],
  ['/asr', 'vtt', (t) => assert.equal(t.trim(), 'WEBVTT')],
  ['/asr', 'tsv', (t) => assert.equal(t.trim(), 'start\tend\ttext')],
  ['/asr', 'json', assertNoSegments],
  ['/asr', 'jsonl', (t) => assert.equal(t.trim(), '')],
];

describe('the speech gate in front of whisper.cpp (real server, real binding)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], { ASR_MODEL: await testWhisperModel() });
    base = server.url('asr');
  });
  after(() => server.stop());

  async function gateCounts(): Promise<{ speech: number; noSpeech: number }> {
    const text = (await http(`${base}/metrics`)).body.toString();
    const count = (decision: string) =>
      Number(
        new RegExp(`^voice_stack_speech_gate_total\\{[^}]*decision="${decision}"[^}]*\\} (\\d+)`, 'm').exec(
          text,
        )?.[1] ?? 0,
      );
    return { speech: count('speech'), noSpeech: count('no_speech') };
  }

  async function transcribe(route: string, format: string, samples: Float32Array) {
    const wav = encodeWav({ sampleRate: RATE, samples });
    if (route === '/asr') {
      return postForm(
        `${base}/asr?output=${format}&language=en`,
        {},
        { field: 'audio_file', data: wav, name: 'a.wav' },
      );
    }
    return postForm(
      `${base}${route}`,
      { response_format: format },
      { field: 'file', data: wav, name: 'a.wav' },
    );
  }

  for (const [name, samples] of QUIET_CLIPS) {
    it(`never sends ${name} to the engine, and answers empty in every format`, async () => {
      const before = await gateCounts();
      for (const [route, format, assertEmpty] of EMPTY_BODIES) {
        const response = await transcribe(route, format, samples);
        assert.equal(response.status, 200, `${route} ${format}: ${response.text.slice(0, 200)}`);
        assertEmpty(response.text);
      }
      const after = await gateCounts();
      assert.equal(after.speech, before.speech, 'no engine call');
      assert.equal(after.noSpeech - before.noSpeech, EMPTY_BODIES.length, 'each request gated');
    });
  }

  it('still sends speech to the engine, once per request', async () => {
    const before = await gateCounts();
    const response = await transcribe('/v1/audio/transcriptions', 'verbose_json', speechIn(6, 2));
    assert.equal(response.status, 200, response.text.slice(0, 200));
    const after = await gateCounts();
    assert.equal(after.speech - before.speech, 1, 'one engine call');
    const body = response.json<{ segments: Array<{ start: number; end: number }> }>();
    for (const segment of body.segments) {
      assert.ok(
        segment.end > 1.7 && segment.start < 4.5,
        `segment ${segment.start}–${segment.end} is over the speech`,
      );
    }
  });
});
