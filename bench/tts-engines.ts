/**
 * The TTS service's overhead, per engine: time per request and time to first byte
 * through HTTP (admission, chunking, encoding, streaming) against the same engine
 * called directly, and against onnxruntime-node's session called directly on the
 * same phoneme ids, all in one run. Piper and Kokoro run generated models with the
 * size and per-second cost of a real medium voice; espeak-ng is the real one.
 * Also the real-time factor (compute seconds per second of audio).
 *
 *   npm run build && node dist/bench/tts-engines.js [--rounds 5]
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Settings } from '../src/core/settings.js';
import { createTtsEngine } from '../src/tts/engines/create-tts-engine.js';
import { kokoroTokens } from '../src/tts/engines/kokoro-vocab.js';
import { phonemesToIds, readPiperConfig } from '../src/tts/engines/piper-voice.js';
import type { TtsEngine } from '../src/tts/engines/tts-engine.js';
import { normalizeEnglish } from '../src/tts/english-normalizer.js';
import { phonemize } from '../src/tts/espeak-phonemizer.js';
import { engineResults, type SpeechJob } from '../src/tts/speech-stream.js';
import { chunkText } from '../src/tts/text-chunker.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { readFirstChunkThenDisconnect, timedPost } from '../test/support/timed-stream.js';
import { kokoroTestEnv, piperTestEnv } from '../test/support/tts-models.js';

const TEXT =
  'The quick brown fox jumps over the lazy dog while the farmer watches from the porch. ' +
  'Voice Stack turns text into speech on this small machine, one sentence after another. ' +
  'The third sentence closes the paragraph and the measurement with it.';

interface Figures {
  readonly engine: string;
  readonly serviceMs: number;
  readonly serviceFirstByteMs: number;
  readonly engineMs: number;
  readonly engineFirstChunkMs: number;
  /** The engine's `synthesize` per sentence: the same as engineMs unless it takes whole texts. */
  readonly perChunkMs: number;
  readonly runtimeMs: number | undefined;
  readonly audioSeconds: number;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function repeat(rounds: number, measure: () => Promise<number>): Promise<number> {
  await measure();
  const values: number[] = [];
  for (let i = 0; i < rounds; i++) values.push(await measure());
  return median(values);
}

/**
 * One request to the engine as the service drives it (the whole text where the engine
 * takes it, else the same chunks in the same order), without HTTP or guard rails.
 * First chunk: the first audio the engine hands over.
 */
async function engineOnce(engine: TtsEngine, job: SpeechJob) {
  const signal = new AbortController().signal;
  const started = performance.now();
  let firstChunk = Number.NaN;
  let audioSeconds = 0;
  for await (const { audio, residualSpeed } of engineResults(engine, job, signal)) {
    if (Number.isNaN(firstChunk)) firstChunk = performance.now() - started;
    audioSeconds += audio.samples.length / audio.sampleRate / residualSpeed;
  }
  return { totalMs: performance.now() - started, firstChunk, audioSeconds };
}

/** Sentence by sentence through `synthesize`, as the service drove every engine before. */
async function enginePerChunkOnce(engine: TtsEngine): Promise<number> {
  const signal = new AbortController().signal;
  const started = performance.now();
  for (const text of chunkText(TEXT)) {
    await engine.synthesize({ text, voice: engine.voices.defaultVoice(), speed: 1 }, signal);
  }
  return performance.now() - started;
}

/**
 * Engine and service measured in turn within each round, so a neighbour's burst on
 * this shared machine lands on both sides of a ratio rather than on one of them.
 */
async function interleaved(engine: TtsEngine, base: string, rounds: number) {
  const url = `${base}/v1/audio/speech`;
  const job: SpeechJob = {
    chunks: chunkText(TEXT),
    voice: engine.voices.defaultVoice(),
    speed: 1,
    format: 'wav',
    maxSeconds: Number.POSITIVE_INFINITY,
  };
  const columns = {
    engine: [] as number[],
    first: [] as number[],
    perChunk: [] as number[],
    whole: [] as number[],
    firstByte: [] as number[],
  };
  let audioSeconds = 0;
  // Round 0 warms every path up and is not counted.
  for (let round = 0; round <= rounds; round++) {
    const direct = await engineOnce(engine, job);
    const perChunk = engine.synthesizeText ? await enginePerChunkOnce(engine) : direct.totalMs;
    const whole = (await timedPost(url, { input: TEXT, response_format: 'wav' })).totalMs;
    const firstByte = (await timedPost(url, { input: TEXT, response_format: 'pcm' })).firstByteMs;
    if (round === 0) continue;
    audioSeconds = direct.audioSeconds;
    columns.engine.push(direct.totalMs);
    columns.first.push(direct.firstChunk);
    columns.perChunk.push(perChunk);
    columns.whole.push(whole);
    columns.firstByte.push(firstByte);
  }
  await readFirstChunkThenDisconnect(url, { input: TEXT, response_format: 'pcm' });
  return {
    engineMs: median(columns.engine),
    engineFirstChunkMs: median(columns.first),
    perChunkMs: median(columns.perChunk),
    serviceMs: median(columns.whole),
    serviceFirstByteMs: median(columns.firstByte),
    audioSeconds,
  };
}

type Feeds = Record<string, import('onnxruntime-node').Tensor>;

/** onnxruntime-node's session on the main thread, on ids prepared beforehand: inference alone. */
async function viaRuntime(
  modelPath: string,
  feedsFor: (ort: typeof import('onnxruntime-node')) => Promise<Feeds[]>,
  rounds: number,
) {
  const ort = await import('onnxruntime-node');
  const threads = Math.max(1, availableParallelism());
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    executionProviders: ['cpu'],
  });
  const all = await feedsFor(ort);
  const ms = await repeat(rounds, async () => {
    const started = performance.now();
    for (const feeds of all) await session.run(feeds);
    return performance.now() - started;
  });
  await session.release();
  return ms;
}

async function piperFeeds(modelPath: string, ort: typeof import('onnxruntime-node')): Promise<Feeds[]> {
  const config = await readPiperConfig(`${modelPath}.json`);
  const signal = new AbortController().signal;
  const feeds: Feeds[] = [];
  for (const text of chunkText(TEXT)) {
    const ids = phonemesToIds(
      await phonemize(normalizeEnglish(text), config.espeakVoice, signal),
      config.phonemeIds,
    );
    feeds.push({
      input: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(ids.length)]), [1]),
      scales: new ort.Tensor(
        'float32',
        Float32Array.from([config.noiseScale, config.lengthScale, config.noiseW]),
        [3],
      ),
    });
  }
  return feeds;
}

async function kokoroFeeds(ort: typeof import('onnxruntime-node')): Promise<Feeds[]> {
  const signal = new AbortController().signal;
  const feeds: Feeds[] = [];
  for (const text of chunkText(TEXT)) {
    const ids = [0, ...kokoroTokens(await phonemize(normalizeEnglish(text), 'en-us', signal)), 0];
    feeds.push({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      style: new ort.Tensor('float32', new Float32Array(256).fill(0.1), [1, 256]),
      speed: new ort.Tensor('float32', Float32Array.from([1]), [1]),
    });
  }
  return feeds;
}

function espeakDirect(rounds: number): Promise<number> {
  return repeat(rounds, async () => {
    const started = performance.now();
    for (const text of chunkText(TEXT))
      execFileSync('espeak-ng', ['--stdout', '-v', 'en-us'], { input: text });
    return performance.now() - started;
  });
}

async function measure(
  engineName: 'espeak-ng' | 'piper' | 'kokoro',
  env: Record<string, string>,
  rounds: number,
): Promise<Figures> {
  const settings = {
    engine: engineName,
    model: env.TTS_MODEL,
    voice: undefined,
    device: 'cpu',
    maxConcurrentRequests: 1,
  } as unknown as Settings['tts'];
  let runtimeMs: number | undefined;
  if (engineName === 'piper')
    runtimeMs = await viaRuntime(env.TTS_MODEL ?? '', (ort) => piperFeeds(env.TTS_MODEL ?? '', ort), rounds);
  if (engineName === 'kokoro') runtimeMs = await viaRuntime(env.TTS_MODEL ?? '', kokoroFeeds, rounds);
  if (engineName === 'espeak-ng') runtimeMs = await espeakDirect(rounds);
  const engine = createTtsEngine(settings, env.MODEL_CACHE_DIR);
  await engine.load();
  const server = await ServiceProcess.start(['serve', 'tts'], {
    ...env,
    MAX_CONCURRENT_REQUESTS: '1',
    LOG_LEVEL: 'info',
  });
  try {
    return { engine: engineName, runtimeMs, ...(await interleaved(engine, server.url('tts'), rounds)) };
  } finally {
    await server.stop();
    await engine.unload();
  }
}

function format(rows: Figures[], rounds: number): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(0)} ms`).padStart(9);
  const lines = [
    `TTS service vs engine vs runtime called directly (3 sentences, ${TEXT.length} chars, median of ${rounds}, ${availableParallelism()} cores)`,
    'engine      audio   runtime  per-sent.   engine    service   ratio   engine 1st  service 1st byte  ratio  RTF(engine)  RTF(service)',
  ];
  for (const r of rows) {
    lines.push(
      [
        r.engine.padEnd(10),
        `${r.audioSeconds.toFixed(1)} s`.padStart(7),
        ms(r.runtimeMs),
        ms(r.perChunkMs),
        ms(r.engineMs),
        ms(r.serviceMs),
        `${(r.serviceMs / r.engineMs).toFixed(2)}×`.padStart(7),
        ms(r.engineFirstChunkMs),
        ms(r.serviceFirstByteMs).padStart(17),
        `${(r.serviceFirstByteMs / r.engineFirstChunkMs).toFixed(2)}×`.padStart(6),
        (r.engineMs / 1000 / r.audioSeconds).toFixed(3).padStart(12),
        (r.serviceMs / 1000 / r.audioSeconds).toFixed(3).padStart(13),
      ].join(' '),
    );
  }
  lines.push(
    'runtime: espeak-ng binary per sentence, or the ONNX session on the main thread with prepared ids (inference only);',
    "per-sent.: the engine's synthesize() sentence by sentence, as the service drove every engine before;",
    'engine: the engine object as the service drives it (espeak-ng: the whole text in one process, streamed; others',
    'per sentence, phonemisation + worker-thread inference); service: HTTP request for a WAV; ratio: service / engine;',
    'service 1st byte: streamed PCM, first body byte, against the first audio the engine hands over.',
    'Piper/Kokoro models are generated (random weights, real shapes).',
  );
  return lines.join('\n');
}

const ENGINES = ['espeak-ng', 'piper', 'kokoro'] as const;
type EngineName = (typeof ENGINES)[number];

async function envFor(engine: EngineName): Promise<Record<string, string>> {
  if (engine === 'piper') return piperTestEnv('bench');
  if (engine === 'kokoro') return kokoroTestEnv('bench');
  return { TTS_ENGINE: 'espeak-ng', MODEL_CACHE_DIR: join(tmpdir(), 'voice-stack-bench-cache') };
}

/**
 * Each engine is measured in a process of its own: a runtime's thread pools and
 * allocator state from one engine must not slow the next one's direct figures.
 */
function measureInChild(engine: EngineName, rounds: number): Figures {
  const self = fileURLToPath(import.meta.url);
  const out = execFileSync(
    process.execPath,
    [self, '--engine', engine, '--rounds', String(rounds), '--json'],
    {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Figures;
}

export async function runTtsBench(
  options: { rounds?: number; engines?: readonly EngineName[] } = {},
): Promise<string> {
  const rounds = options.rounds ?? 7;
  const rows = (options.engines ?? ENGINES).map((engine) => measureInChild(engine, rounds));
  return format(rows, rounds);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      engine: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const engines = (values.engine ?? [...ENGINES]) as EngineName[];
  const work = values.json
    ? envFor(engines[0] ?? 'espeak-ng').then(async (env) =>
        JSON.stringify(await measure(engines[0] ?? 'espeak-ng', env, rounds)),
      )
    : runTtsBench({ rounds, engines });
  work
    .then((report) => console.log(report))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
