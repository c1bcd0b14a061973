/**
 * The generated speech-band Silero VAD run by the real engine (whisper.cpp's Silero graph behind
 * WhisperCppEngine): its regions follow the audio — espeak-ng speech is found with edges near the
 * truth, silence, quiet noise and a loud 7 kHz tone (which the energy gate calls speech) are not —
 * and `vad: true` transcription leaves out what it leaves out. The random model still calls
 * silence speech, as the tests built on it expect.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SpeechRegion } from '../../src/asr/engines/asr-engine.js';
import { WhisperCppEngine } from '../../src/asr/engines/whisper-cpp.js';
import { energySpeechRegions } from '../../src/asr/speech-gate.js';
import type { PcmAudio } from '../../src/audio/pcm-audio.js';
import { encodeWav } from '../../src/audio/wav.js';
import { generateSileroVadModel } from '../../tools/gen-whisper-model.js';
import { speechBandVadModel, speechWav, testWhisperModel } from '../support/fixtures.js';
import { http, postForm } from '../support/http.js';
import { ServiceProcess } from '../support/service-process.js';

const RATE = 16000;
/** How far a detected edge may sit from the true one: whisper.cpp pads 30 ms and decides per 32 ms. */
const EDGE_TOLERANCE_SECONDS = 0.3;

/** Seeded white noise at `dbfs` RMS. */
function noise(seconds: number, dbfs: number, seed = 1): Float32Array {
  const out = new Float32Array(Math.round(seconds * RATE));
  let state = seed;
  for (let i = 0; i < out.length; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    out[i] = (state / 0x7fffffff) * 2 - 1;
  }
  return scaleTo(out, dbfs);
}

function tone(frequency: number, seconds: number, amplitude: number): Float32Array {
  return Float32Array.from(
    { length: Math.round(seconds * RATE) },
    (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / RATE),
  );
}

function rmsDbfs(samples: Float32Array): number {
  let power = 0;
  for (const s of samples) power += s * s;
  return 10 * Math.log10(power / samples.length);
}

function scaleTo(samples: Float32Array, dbfs: number): Float32Array {
  const gain = 10 ** ((dbfs - rmsDbfs(samples)) / 20);
  return samples.map((s) => s * gain);
}

/**
 * espeak-ng speech at 16 kHz with its leading and trailing silence cut (the first and last 10 ms
 * frame within 40 dB of the loudest), at `dbfs` RMS over what is left: its ends are the truth.
 */
function speech(text: string, name: string, dbfs: number): Float32Array {
  const pcm = execFileSync('ffmpeg', [
    ...['-v', 'error', '-i', speechWav(text, name)],
    ...['-ar', String(RATE), '-ac', '1', '-f', 'f32le', 'pipe:1'],
  ]);
  const samples = new Float32Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length));
  const frame = RATE / 100;
  const levels = Array.from({ length: Math.floor(samples.length / frame) }, (_, f) =>
    rmsDbfs(samples.subarray(f * frame, (f + 1) * frame)),
  );
  const floor = Math.max(...levels) - 40;
  const first = levels.findIndex((level) => level > floor);
  let last = levels.length - 1;
  while (last > first && (levels[last] ?? 0) <= floor) last--;
  return scaleTo(samples.slice(first * frame, (last + 1) * frame), dbfs);
}

/** Pieces laid end to end (a number is that many seconds of silence); where the speech lies. */
function layout(...parts: Array<number | Float32Array>): { audio: PcmAudio; truth: SpeechRegion[] } {
  const pieces = parts.map((part) => (typeof part === 'number' ? new Float32Array(part * RATE) : part));
  const samples = new Float32Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  const truth: SpeechRegion[] = [];
  let at = 0;
  pieces.forEach((piece, i) => {
    samples.set(piece, at);
    if (typeof parts[i] !== 'number') truth.push({ start: at / RATE, end: (at + piece.length) / RATE });
    at += piece.length;
  });
  return { audio: { sampleRate: RATE, samples }, truth };
}

function withBackground(audio: PcmAudio, dbfs: number): PcmAudio {
  const background = noise(audio.samples.length / RATE, dbfs, 9);
  return { sampleRate: RATE, samples: audio.samples.map((s, i) => s + (background[i] ?? 0)) };
}

function describeRegions(regions: readonly SpeechRegion[] | undefined): string {
  return JSON.stringify(regions?.map((r) => [r.start, r.end]));
}

function assertEdgesNear(found: readonly SpeechRegion[] | undefined, truth: readonly SpeechRegion[]): void {
  const message = `found ${describeRegions(found)}, truth ${describeRegions(truth)}`;
  assert.ok(found !== undefined, 'the VAD model is loaded');
  assert.equal(found.length, truth.length, message);
  found.forEach((region, i) => {
    const real = truth[i] as SpeechRegion;
    assert.ok(Math.abs(region.start - real.start) <= EDGE_TOLERANCE_SECONDS, `start of ${i}: ${message}`);
    assert.ok(Math.abs(region.end - real.end) <= EDGE_TOLERANCE_SECONDS, `end of ${i}: ${message}`);
  });
}

const never = new AbortController().signal;
const transcribeDefaults = { task: 'transcribe', wordTimestamps: false, vad: false } as const;

let asr: WhisperCppEngine;

before(async () => {
  asr = new WhisperCppEngine({
    modelPath: await testWhisperModel(),
    modelName: 'test',
    device: 'cpu',
    threads: 2,
    vadModelPath: await speechBandVadModel(),
  });
  await asr.load();
});

after(async () => {
  await asr?.unload();
});

const first = 'Testing one two three four';
const second = 'The service transcribes this sentence';

describe('the speech-band Silero VAD (generated weights, real whisper.cpp graph)', () => {
  for (const dbfs of [-30, -15]) {
    it(`finds two utterances at ${dbfs} dBFS two seconds apart, edges within ${EDGE_TOLERANCE_SECONDS} s`, async () => {
      const { audio, truth } = layout(
        0.5,
        speech(first, 'vad-first', dbfs),
        2,
        speech(second, 'vad-second', dbfs),
        0.5,
      );
      const found = await asr.detectSpeech(audio, never);
      console.log(`# ${dbfs} dBFS: found ${describeRegions(found)}, truth ${describeRegions(truth)}`);
      assertEdgesNear(found, truth);
    });
  }

  it('finds the same two utterances over -50 dBFS white noise', async () => {
    const { audio, truth } = layout(
      0.5,
      speech(first, 'vad-first', -30),
      2,
      speech(second, 'vad-second', -30),
      0.5,
    );
    const found = await asr.detectSpeech(withBackground(audio, -50), never);
    console.log(`# over noise: found ${describeRegions(found)}, truth ${describeRegions(truth)}`);
    assertEdgesNear(found, truth);
  });

  const nothing: ReadonlyArray<[string, Float32Array]> = [
    ['digital silence', new Float32Array(4 * RATE)],
    ['white noise at -50 dBFS', noise(4, -50, 2)],
    ['white noise at -60 dBFS', noise(4, -60, 3)],
  ];
  for (const [name, samples] of nothing) {
    it(`finds no speech in ${name}`, async () => {
      assert.deepEqual(await asr.detectSpeech({ sampleRate: RATE, samples }, never), []);
    });
  }

  it('finds no speech in a near full-scale 7 kHz tone, which the energy gate calls speech', async () => {
    const { audio } = layout(1, tone(7000, 2, 0.99), 1);
    assert.ok(energySpeechRegions(audio.samples, RATE).length > 0, 'the energy gate hears the tone');
    assert.deepEqual(await asr.detectSpeech(audio, never), []);
  });

  it('calls louder noise speech: white noise at -40 dBFS', async () => {
    const { audio, truth } = layout(1, noise(2, -40, 5), 1);
    assertEdgesNear(await asr.detectSpeech(audio, never), truth);
  });

  it('calls a tone speech once it is in the band (1 kHz)', async () => {
    const { audio, truth } = layout(1, tone(1000, 2, 0.5), 1);
    assertEdgesNear(await asr.detectSpeech(audio, never), truth);
  });

  it('vad: true transcribes nothing of silence, which vad: false sends to whisper', async () => {
    const audio = { sampleRate: RATE, samples: noise(4, -60, 4) };
    const unfiltered = await asr.transcribe(audio, transcribeDefaults, never);
    assert.ok(unfiltered.segments.length > 0, 'the random whisper model writes text for any audio');
    const filtered = await asr.transcribe(audio, { ...transcribeDefaults, vad: true }, never);
    assert.deepEqual(filtered.segments, []);
    assert.equal(filtered.text, '');
  });

  it('vad: true transcribes only the speech, not the silence around it', async () => {
    const { audio, truth } = layout(3, speech(second, 'vad-second', -20), 3);
    const spoken = truth[0] as SpeechRegion;
    const unfiltered = await asr.transcribe(audio, transcribeDefaults, never);
    assert.ok(
      unfiltered.segments.some((s) => s.start < spoken.start - EDGE_TOLERANCE_SECONDS),
      'without vad whisper is given the leading silence too',
    );
    const filtered = await asr.transcribe(audio, { ...transcribeDefaults, vad: true }, never);
    assert.ok(filtered.segments.length > 0, 'the speech is transcribed');
    for (const segment of filtered.segments) {
      const where = `segment ${segment.start}–${segment.end}, speech ${spoken.start}–${spoken.end}`;
      assert.ok(segment.start >= spoken.start - EDGE_TOLERANCE_SECONDS, where);
      assert.ok(segment.end <= spoken.end + EDGE_TOLERANCE_SECONDS, where);
    }
  });
});

describe('the speech gate on ASR_VAD_MODEL = the speech-band VAD (real server)', () => {
  let server: ServiceProcess;
  let base: string;
  before(async () => {
    server = await ServiceProcess.start(['serve', 'asr'], {
      ASR_MODEL: await testWhisperModel(),
      ASR_VAD_MODEL: await speechBandVadModel(),
    });
    base = server.url('asr');
  });
  after(() => server?.stop());

  async function gateCount(decision: 'speech' | 'no_speech'): Promise<number> {
    const text = (await http(`${base}/metrics`)).body.toString();
    const line = new RegExp(
      `^voice_stack_speech_gate_total\\{[^}]*decision="${decision}"[^}]*\\} (\\d+)`,
      'm',
    );
    return Number(line.exec(text)?.[1] ?? 0);
  }

  const wav = (audio: PcmAudio) => ({ field: 'file', data: encodeWav(audio), name: 'a.wav' });

  it('answers a loud 7 kHz tone with empty text: Silero, not the energy gate, decided', async () => {
    const before = await gateCount('no_speech');
    const { audio } = layout(1, tone(7000, 2, 0.99), 1);
    const response = await postForm(
      `${base}/v1/audio/transcriptions`,
      { response_format: 'json' },
      wav(audio),
    );
    assert.equal(response.status, 200, response.text.slice(0, 200));
    assert.deepEqual(response.json(), { text: '' });
    assert.equal((await gateCount('no_speech')) - before, 1, 'gated as no speech');
    assert.ok(
      !server.logs.some((l) => l.event === 'asr_vad_unavailable'),
      'the VAD model loaded in the service',
    );
  });

  it('vad_filter=true on /asr decodes only the speech', async () => {
    const before = await gateCount('speech');
    const { audio, truth } = layout(3, speech(second, 'vad-second', -20), 3);
    const spoken = truth[0] as SpeechRegion;
    const response = await postForm(
      `${base}/asr?output=json&language=en&vad_filter=true`,
      {},
      { ...wav(audio), field: 'audio_file' },
    );
    assert.equal(response.status, 200, response.text.slice(0, 200));
    assert.equal((await gateCount('speech')) - before, 1, 'sent to the engine once');
    const body = response.json<{ segments: Array<{ start: number; end: number }> }>();
    assert.ok(body.segments.length > 0, 'the speech is transcribed');
    for (const segment of body.segments) {
      const where = `segment ${segment.start}–${segment.end}, speech ${spoken.start}–${spoken.end}`;
      assert.ok(segment.start >= spoken.start - EDGE_TOLERANCE_SECONDS, where);
      assert.ok(segment.end <= spoken.end + EDGE_TOLERANCE_SECONDS, where);
    }
  });
});

describe('the random Silero VAD (kept for the tests that need audio left to transcribe)', () => {
  let dir: string;
  let randomAsr: WhisperCppEngine | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'speech-band-vad-test-'));
    const vadModelPath = join(dir, 'ggml-silero-random.bin');
    await generateSileroVadModel({ outPath: vadModelPath, seed: 1 });
    randomAsr = new WhisperCppEngine({
      modelPath: await testWhisperModel(),
      modelName: 'test',
      device: 'cpu',
      threads: 2,
      vadModelPath,
    });
    await randomAsr.load();
  });

  after(async () => {
    await randomAsr?.unload();
    await rm(dir, { recursive: true, force: true });
  });

  it('still calls digital silence speech', async () => {
    const regions = await randomAsr?.detectSpeech(
      { sampleRate: RATE, samples: new Float32Array(4 * RATE) },
      never,
    );
    assert.ok(regions !== undefined && regions.length > 0, `found ${describeRegions(regions)}`);
    const covered = regions.reduce((sum, r) => sum + r.end - r.start, 0);
    assert.ok(covered >= 3.5, `covers ${covered} s of 4 s`);
  });
});
