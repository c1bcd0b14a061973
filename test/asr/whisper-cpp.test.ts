import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  loadCurrentVad,
  loadCurrentWhisper,
  loadCurrentWhisperModule,
} from '../../src/asr/engines/current-whisper.js';
import { loadFugoodWhisper } from '../../src/asr/engines/fugood-whisper.js';
import { WhisperCppEngine } from '../../src/asr/engines/whisper-cpp.js';
import { inspectWhisperModelFile } from '../../src/asr/whisper-model-file.js';
import type { PcmAudio } from '../../src/audio/pcm-audio.js';
import { isVoiceStackError } from '../../src/core/errors.js';
import { generateSileroVadModel, generateWhisperModel } from '../../tools/gen-whisper-model.js';

const SAMPLE_RATE = 16000;

/** A rising chirp with a little noise: something for the encoder to look at, deterministic. */
function chirp(seconds: number): PcmAudio {
  const samples = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let seed = 7;
  for (let i = 0; i < samples.length; i++) {
    const t = i / SAMPLE_RATE;
    seed = (seed * 1103515245 + 12345) >>> 0;
    samples[i] = 0.3 * Math.sin(2 * Math.PI * (200 + 300 * t) * t) + 0.02 * (seed / 2 ** 32 - 0.5);
  }
  return { sampleRate: SAMPLE_RATE, samples };
}

const transcribeDefaults = { task: 'transcribe', wordTimestamps: false, vad: false } as const;

let dir: string;
let modelPath: string;
let vadPath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'whisper-cpp-test-'));
  modelPath = join(dir, 'ggml-test.bin');
  vadPath = join(dir, 'ggml-vad.bin');
  await generateWhisperModel({ preset: 'test', outPath: modelPath, seed: 1 });
  await generateSileroVadModel({ outPath: vadPath, seed: 1 });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function engine(extra: { vadModelPath?: string; modelPath?: string } = {}): WhisperCppEngine {
  return new WhisperCppEngine({ modelPath, modelName: 'test', device: 'auto', threads: 2, ...extra });
}

function assertShape(
  transcript: Awaited<ReturnType<WhisperCppEngine['transcribe']>>,
  duration: number,
): void {
  assert.match(transcript.language, /^[a-z]{2}$/);
  assert.equal(transcript.duration, duration);
  assert.ok(transcript.segments.length > 0, 'the random model writes some text');
  let previousStart = 0;
  transcript.segments.forEach((segment, i) => {
    assert.equal(segment.id, i);
    assert.ok(segment.start >= previousStart, `segment ${i} starts after the one before`);
    assert.ok(segment.end >= segment.start, `segment ${i} ends after it starts`);
    assert.ok(segment.end <= duration, `segment ${i} ends within the audio`);
    previousStart = segment.start;
  });
  assert.equal(transcript.text, transcript.segments.map((s) => s.text).join(''));
}

describe('gen-whisper-model', () => {
  test('writes the ggml magic and the hparams of the preset', async () => {
    const header = (await readFile(modelPath)).subarray(0, 48);
    assert.equal(header.readUInt32LE(0), 0x67676d6c);
    assert.equal(header.readInt32LE(4), 51865); // n_vocab
    assert.equal(header.readInt32LE(12), 64); // n_audio_state
    assert.equal(header.readInt32LE(40), 80); // n_mels
  });

  test('is deterministic for a seed and differs between seeds', async () => {
    const again = join(dir, 'again.bin');
    const other = join(dir, 'other.bin');
    await generateWhisperModel({ preset: 'test', outPath: again, seed: 1 });
    await generateWhisperModel({ preset: 'test', outPath: other, seed: 2 });
    const [a, b, c] = await Promise.all([readFile(modelPath), readFile(again), readFile(other)]);
    assert.ok(a.equals(b));
    assert.equal(a.length, c.length);
    assert.ok(!a.equals(c));
  });
});

describe('WhisperCppEngine', () => {
  test('transcribes audio into well-formed segments, off the event loop', async () => {
    const asr = engine();
    await asr.load();
    assert.equal(asr.describe().device, 'cpu');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    const transcript = await asr.transcribe(chirp(2.5), transcribeDefaults, new AbortController().signal);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    assertShape(transcript, 2.5);
    // A blocked loop would tick once at the end; a free one keeps ticking through the native work.
    assert.ok(
      ticks >= Math.min(10, elapsed / 20),
      `event loop ticked ${ticks} times in ${Math.round(elapsed)} ms`,
    );
    await asr.unload();
  });

  test('runs whisper.cpp 1.8.3 prebuilt, with the CPU kernels ggml picked for this CPU at run time', () => {
    const module = loadCurrentWhisperModule();
    assert.equal(module.info.version, '1.8.3');
    // One of the package's libggml-cpu-<microarchitecture>.so files is loaded into this process.
    const variant = module.info.cpuVariant;
    assert.match(variant, /^[a-z0-9_]+$/);
    const maps = readFileSync('/proc/self/maps', 'utf8');
    assert.ok(maps.includes(`libggml-cpu-${variant}.so`), `libggml-cpu-${variant}.so is mapped`);
    assert.equal(
      maps.match(/libggml-cpu-[a-z0-9_]+\.so/g)?.every((m) => m.includes(variant)),
      true,
    );
    // An abort reaches ggml's CPU backend, which checks it between graph nodes.
    assert.equal(module.info.abortInsideGraphs, true);
    // Not the baseline build: on x86-64 anything from haswell up has AVX2.
    if (process.arch === 'x64') assert.match(module.info.systemInfo, /AVX2 = 1/);
  });

  for (const build of ['current', 'bundled'] as const) {
    test(`the ${build} build reports token ids and log-probabilities`, async () => {
      const asr = new WhisperCppEngine({ modelPath, modelName: 'test', device: 'cpu', threads: 2, build });
      await asr.load();
      assert.match(
        asr.describe().build ?? '',
        build === 'current'
          ? /^whisper\.cpp 1\.8\.3 prebuilt \(@spader\/node-whisper-cpp-x64-linux-cpu-gnu [\d.]+\), runtime CPU dispatch: [a-z0-9_]+, flash attention$/
          : // Not the @fugood prebuilt: that one has no AVX and is many times slower.
            /^smart-whisper, built here with /,
      );
      const transcript = await asr.transcribe(chirp(3), transcribeDefaults, new AbortController().signal);
      const segment = transcript.segments[0];
      assert.ok(segment !== undefined);
      assert.ok(segment.tokens.length > 0, 'token ids');
      assert.ok(
        segment.tokens.every((id) => Number.isInteger(id) && id >= 0 && id < 50257),
        'text tokens only',
      );
      assert.ok(
        segment.avgLogprob < 0 && Number.isFinite(segment.avgLogprob),
        `avg_logprob ${segment.avgLogprob}`,
      );
      await asr.unload();
    });
  }

  test('gives each token the whole UTF-8 characters that end in it, so tokens join to the segment text', async () => {
    // Every token of this vocabulary ends with half of an 'ä' and starts with the other half.
    const splitPath = join(dir, 'ggml-split.bin');
    await generateWhisperModel({ preset: 'test', outPath: splitPath, seed: 1, splitCharacters: true });
    const backend = await loadCurrentWhisper(loadCurrentWhisperModule(), splitPath, 2);
    try {
      const result = await backend.transcribeWindow(
        chirp(10).samples,
        { language: 'en', translate: false, wordTimestamps: true },
        new AbortController().signal,
      );
      const text = result.segments.map((s) => s.text).join('');
      assert.ok(text.includes('ä'), `characters split over tokens: ${JSON.stringify(text.slice(0, 60))}`);
      for (const segment of result.segments) {
        const tokens = segment.tokens ?? [];
        assert.equal(tokens.map((t) => t.text).join(''), segment.text);
        // No token but the first and the last holds a broken character.
        for (const token of tokens.slice(1, -1)) assert.doesNotMatch(token.text, /\uFFFD/);
      }
    } finally {
      await backend.close();
    }
  });

  test("reports whisper.cpp's no-speech probability for each segment", async () => {
    const asr = engine();
    await asr.load();
    // Two whisper windows: each has its own no-speech probability.
    const transcript = await asr.transcribe(chirp(40), transcribeDefaults, new AbortController().signal);
    const probabilities = transcript.segments.map((s) => s.noSpeechProb);
    assert.ok(probabilities.length > 1, `${probabilities.length} segments`);
    for (const p of probabilities) assert.ok(p >= 0 && p <= 1 && Number.isFinite(p), `no_speech_prob ${p}`);
    assert.ok(
      probabilities.some((p) => p > 0),
      `not the constant 0 of a build without it: ${probabilities.join(', ')}`,
    );
    await asr.unload();
  });

  test('maps word timestamps, language and translation options', async () => {
    const asr = engine();
    await asr.load();
    const transcript = await asr.transcribe(
      chirp(3),
      { ...transcribeDefaults, task: 'translate', language: 'de', wordTimestamps: true, temperature: 0.3 },
      new AbortController().signal,
    );
    assert.equal(transcript.language, 'de');
    assertShape(transcript, 3);
    const words = transcript.segments.flatMap((s) => s.words ?? []);
    assert.ok(words.length > 0);
    for (const word of words) {
      assert.ok(word.word.trim().length > 0);
      assert.ok(word.start <= word.end && word.end <= 3);
    }
    await asr.unload();
  });

  test('transcribes audio longer than a whisper window with monotonic timestamps', async () => {
    const asr = engine();
    await asr.load();
    const transcript = await asr.transcribe(chirp(40), transcribeDefaults, new AbortController().signal);
    assertShape(transcript, 40);
    await asr.unload();
  });

  test('detects a language code with its probability, as a transcription would', async () => {
    const asr = engine();
    await asr.load();
    const detected = await asr.detectLanguage(chirp(2), new AbortController().signal);
    assert.match(detected.code, /^[a-z]{2}$/);
    const p = detected.probability ?? -1;
    assert.ok(p > 0 && p <= 1, `probability ${p}`);
    // The same detector whisper.cpp runs at the start of a transcription without a language.
    const transcript = await asr.transcribe(chirp(2), transcribeDefaults, new AbortController().signal);
    assert.equal(transcript.language, detected.code);
    await asr.unload();
  });

  test('abort rejects with client-closed at once and stops the native work within a second', async () => {
    const asr = engine();
    await asr.load();
    const controller = new AbortController();
    const running = asr.transcribe(chirp(90), transcribeDefaults, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const abortedAt = performance.now();
    controller.abort();
    await assert.rejects(
      running,
      (error: unknown) => isVoiceStackError(error) && error.code === 'VS_ERR_CLIENT_CLOSED',
    );
    const rejectMs = performance.now() - abortedAt;
    // unload() waits for native work still running: it ends when whisper.cpp has stopped.
    await asr.unload();
    const stoppedMs = performance.now() - abortedAt;
    process.stdout.write(
      `# abort: rejected after ${rejectMs.toFixed(0)} ms, native work stopped after ${stoppedMs.toFixed(0)} ms\n`,
    );
    assert.ok(rejectMs < 100, `rejected after ${rejectMs} ms`);
    assert.ok(stoppedMs < 1000, `native work ended after ${stoppedMs} ms`);
  });

  test('an already aborted signal never starts native work', async () => {
    const asr = engine();
    await asr.load();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      asr.transcribe(chirp(1), transcribeDefaults, controller.signal),
      (error: unknown) => isVoiceStackError(error) && error.code === 'VS_ERR_CLIENT_CLOSED',
    );
    await asr.unload();
  });

  test('unloads and loads again', async () => {
    const asr = engine();
    await asr.load();
    await asr.unload();
    await assert.rejects(asr.transcribe(chirp(1), transcribeDefaults, new AbortController().signal));
    await asr.load();
    assertShape(await asr.transcribe(chirp(2), transcribeDefaults, new AbortController().signal), 2);
    await asr.unload();
  });

  test('vad with a VAD model transcribes the speech it finds', async () => {
    const asr = engine({ vadModelPath: vadPath });
    await asr.load();
    const transcript = await asr.transcribe(
      chirp(4),
      { ...transcribeDefaults, vad: true },
      new AbortController().signal,
    );
    assert.equal(transcript.duration, 4);
    for (const segment of transcript.segments) assert.ok(segment.end <= 4);
    await asr.unload();
  });

  test("Silero VAD runs on the 1.8.3 library and takes the caller's threshold and raw regions", async () => {
    const vad = await loadCurrentVad(loadCurrentWhisperModule(), vadPath, 1);
    try {
      const signal = new AbortController().signal;
      const samples = chirp(4).samples;
      // Every window is over a threshold of 0, none over 1.01 (probabilities are at most 1).
      const all = await vad.detectSpeech(samples, signal, { threshold: 0, raw: true });
      assert.equal(all.length, 1);
      assert.ok((all[0]?.start ?? 1) < 0.05 && (all[0]?.end ?? 0) > 3.9, JSON.stringify(all));
      assert.deepEqual(await vad.detectSpeech(samples, signal, { threshold: 1.01 }), []);
      for (const region of await vad.detectSpeech(samples, signal)) {
        assert.ok(region.start >= 0 && region.start <= region.end && region.end <= 4, JSON.stringify(region));
      }
    } finally {
      await vad.close();
    }
  });

  test('vad without a VAD model falls back to the whole audio and says so', async () => {
    const warnings: object[] = [];
    const asr = new WhisperCppEngine({
      modelPath,
      modelName: 'test',
      device: 'cpu',
      threads: 2,
      logger: { info: () => {}, warn: (obj) => warnings.push(obj) },
    });
    await asr.load();
    const transcript = await asr.transcribe(
      chirp(2),
      { ...transcribeDefaults, vad: true },
      new AbortController().signal,
    );
    assertShape(transcript, 2);
    assert.ok(warnings.some((w) => (w as { event?: string }).event === 'asr_vad_skipped'));
    await asr.unload();
  });

  for (const [what, corrupt] of [
    ['truncated before its weights', (bytes: Buffer) => bytes.subarray(0, 4096)],
    ['truncated within its weights', (bytes: Buffer) => bytes.subarray(0, bytes.length / 2)],
    ['not a ggml file', (bytes: Buffer) => Buffer.from(bytes).fill(0x41, 0, 8)],
  ] as const) {
    test(`a model file ${what} is reported as model unavailable`, async () => {
      const path = join(dir, 'corrupt.bin');
      await writeFile(path, corrupt(await readFile(modelPath)));
      const asr = new WhisperCppEngine({ modelPath: path, modelName: 'broken', device: 'cpu', threads: 1 });
      await assert.rejects(asr.load(), (error: unknown) => {
        assert.ok(isVoiceStackError(error));
        assert.equal(error.code, 'VS_ERR_MODEL_UNAVAILABLE');
        assert.match(error.message, /broken/);
        return true;
      });
    });
  }

  test('a model file cut inside its vocabulary is refused before whisper.cpp reads it', async () => {
    const bytes = await readFile(modelPath);
    const path = join(dir, 'cut-vocab.bin');
    // Header (48) + mel filters (8 + 80 * 201 * 4) puts the vocabulary at 64376; cut 1000 bytes in.
    await writeFile(path, bytes.subarray(0, 65376));
    await assert.rejects(inspectWhisperModelFile(path), /ends inside its vocabulary/);
    const asr = new WhisperCppEngine({ modelPath: path, modelName: 'cut', device: 'cpu', threads: 1 });
    await assert.rejects(
      asr.load(),
      (error: unknown) => isVoiceStackError(error) && /vocabulary/.test(error.message),
    );
  });

  test('reads the structure of a whole file', async () => {
    const info = await inspectWhisperModelFile(modelPath);
    assert.equal(info.vocabularySize, 51865);
    assert.equal(info.mels, 80);
    assert.ok(info.fullyChecked);
    assert.ok(info.tensors > 10, `${info.tensors} tensors`);
  });

  test('a missing model file is reported as model unavailable', async () => {
    const asr = new WhisperCppEngine({
      modelPath: join(dir, 'nope.bin'),
      modelName: 'nope',
      device: 'cpu',
      threads: 1,
    });
    await assert.rejects(
      asr.load(),
      (error: unknown) => isVoiceStackError(error) && error.code === 'VS_ERR_MODEL_UNAVAILABLE',
    );
  });
});

// The prebuilt binding runs CUDA and the CPU fallback: the same window through it, for real.
describe('the @fugood/whisper.node backend', () => {
  test('transcribes a window and detects its language with the prebuilt CPU build', async () => {
    const backend = await loadFugoodWhisper({ modelPath, variant: 'cpu', threads: 2 });
    try {
      assert.equal(backend.device, 'cpu');
      assert.equal(backend.maxCallSeconds, 30);
      const signal = new AbortController().signal;
      const result = await backend.transcribeWindow(
        chirp(2).samples,
        { language: 'en', translate: false, wordTimestamps: true },
        signal,
      );
      assert.equal(result.language, 'en');
      assert.ok(result.segments.length > 0);
      for (const segment of result.segments) {
        assert.ok(segment.start <= segment.end);
        assert.ok((segment.tokens ?? []).every((t) => t.start !== undefined && t.end !== undefined));
      }
      const detected = await backend.transcribeWindow(
        chirp(2).samples,
        { language: 'auto', translate: false, wordTimestamps: false, languageOnly: true },
        signal,
      );
      assert.match(detected.language ?? '', /^[a-z]{2}$/);
    } finally {
      await backend.close();
    }
  });
});

// The addon opens whatever libwhisper.so the package ships; another release must be refused, by name.
describe('the 1.8.3 addon', () => {
  const addonPath = fileURLToPath(
    new URL('../../../native/whisper-current/build/Release/whisper_current.node', import.meta.url),
  );

  test("keeps whisper.cpp's and ggml's log off stderr through a load, a transcription and VAD", () => {
    const engineModule = fileURLToPath(new URL('../../src/asr/engines/whisper-cpp.js', import.meta.url));
    const script = `
      const { WhisperCppEngine } = await import(${JSON.stringify(engineModule)});
      const asr = new WhisperCppEngine({ modelPath: ${JSON.stringify(modelPath)}, modelName: 'test', device: 'cpu',
        threads: 1, vadModelPath: ${JSON.stringify(vadPath)} });
      await asr.load();
      if (!asr.describe().build.startsWith('whisper.cpp 1.8.3')) throw new Error('ran ' + asr.describe().build);
      const samples = new Float32Array(16000 * 2).map((_, i) => 0.3 * Math.sin(i / 5));
      const signal = new AbortController().signal;
      await asr.transcribe({ sampleRate: 16000, samples }, { task: 'transcribe', wordTimestamps: true, vad: true }, signal);
      await asr.detectLanguage({ sampleRate: 16000, samples }, signal);
      await asr.unload();
      console.log('done');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'done');
    assert.equal(child.stderr, '', 'nothing on stderr');
  });

  test('refuses a libwhisper.so of another version with a line that says so', async () => {
    const fake = await mkdtemp(join(tmpdir(), 'whisper-fake-'));
    try {
      writeFileSync(
        join(fake, 'ggml.c'),
        'void ggml_backend_load_all_from_path(const char *p) { (void)p; }\n',
      );
      writeFileSync(join(fake, 'whisper.c'), 'const char *whisper_version(void) { return "1.7.0"; }\n');
      for (const name of ['ggml', 'whisper']) {
        execFileSync('cc', ['-shared', '-fPIC', '-o', join(fake, `lib${name}.so`), join(fake, `${name}.c`)]);
      }
      // In a child: init() opens the libraries once per process.
      const child = spawnSync(
        process.execPath,
        ['-e', `require(${JSON.stringify(addonPath)}).init(${JSON.stringify(fake)})`],
        { encoding: 'utf8' },
      );
      assert.notEqual(child.status, 0);
      assert.match(
        child.stderr,
        /libwhisper\.so is version 1\.7\.0, but this addon was compiled against whisper\.cpp 1\.8\.3's headers/,
      );
    } finally {
      await rm(fake, { recursive: true, force: true });
    }
  });
});
